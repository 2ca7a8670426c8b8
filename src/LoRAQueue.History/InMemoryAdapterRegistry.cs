namespace LoRAQueue.History;

/// <summary>The adapter registry in process memory, for the embedded demo: same rules as <see cref="PostgresAdapterRegistry"/>.</summary>
public sealed class InMemoryAdapterRegistry(AdapterValidator validator, TimeProvider? clock = null) : IAdapterRegistry
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly Dictionary<string, AdapterRecord> _adapters = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly Dictionary<string, IReadOnlyList<LoRAQueue.Formats.AdapterFile>> _files = new(StringComparer.Ordinal);

    public Task<IReadOnlyList<LoRAQueue.Formats.AdapterFile>?> GetFilesAsync(string id, CancellationToken ct)
    {
        lock (_lock) return Task.FromResult(_files.GetValueOrDefault(id));
    }

    public async Task<AdapterRecord> RegisterAsync(string id, string tenant, CancellationToken ct)
    {
        AdapterValidator.CheckTenant(tenant);
        var adapter = await Task.Run(() => validator.Validate(id), ct);
        var now = Timestamps.Normalize(_clock.GetUtcNow());
        lock (_lock)
        {
            var existing = _adapters.GetValueOrDefault(id);
            if (existing is not null && existing.Tenant != tenant)
                throw AdapterRegistrationErrors.OtherTenant(id, existing.Tenant);
            var record = new AdapterRecord(adapter.Id, tenant, adapter.Path, adapter.MaxRank, adapter.RankBucket,
                                           adapter.SizeBytes, adapter.ModuleCount, existing?.CreatedAt ?? now, adapter.Manifest.Digest);
            _adapters[id] = record;
            _files[id] = adapter.Manifest.Files;
            return record;
        }
    }

    public Task<AdapterRecord?> GetAsync(string id, CancellationToken ct)
    {
        lock (_lock) return Task.FromResult(_adapters.GetValueOrDefault(id));
    }

    public Task<IReadOnlyList<AdapterRecord>> ListAsync(string? tenant, CancellationToken ct)
    {
        lock (_lock)
        {
            IReadOnlyList<AdapterRecord> list = _adapters.Values
                .Where(a => tenant is null || a.Tenant == tenant)
                .OrderBy(a => a.Id, StringComparer.Ordinal)
                .ToList();
            return Task.FromResult(list);
        }
    }
}

internal static class AdapterRegistrationErrors
{
    public static AdapterRegistrationException OtherTenant(string id, string owner) =>
        new($"adapter id '{id}' is already registered by tenant '{owner}'; choose another id");
}
