namespace LoRAQueue.History;

/// <summary>A registered adapter: its id is its directory name in the adapter store. <see cref="Digest"/> is the SHA-256
/// content digest of its files (<see cref="LoRAQueue.Formats.AdapterManifest"/>; the files themselves are in the
/// <c>adapters.files</c> column); null only for an adapter registered before digests were recorded.</summary>
public sealed record AdapterRecord(string Id, string Tenant, string Path, int MaxRank, int RankBucket, long SizeBytes,
                                   int ModuleCount, DateTimeOffset CreatedAt, string? Digest = null);

/// <summary>
/// The adapter registry. <see cref="RegisterAsync"/> validates the PEFT directory under the adapter store against
/// the base model and records it; re-registering an id updates it (same tenant only). A bad adapter throws
/// <see cref="AdapterRegistrationException"/> and records nothing.
/// </summary>
public interface IAdapterRegistry
{
    Task<AdapterRecord> RegisterAsync(string id, string tenant, CancellationToken ct);
    Task<AdapterRecord?> GetAsync(string id, CancellationToken ct);
    /// <summary>Adapters ordered by id; a tenant's only, or all when <paramref name="tenant"/> is null.</summary>
    Task<IReadOnlyList<AdapterRecord>> ListAsync(string? tenant, CancellationToken ct);

    /// <summary>The files registered for the adapter (what its <see cref="AdapterRecord.Digest"/> covers), to say which one
    /// differs when a copy does not match; null when unknown.</summary>
    Task<IReadOnlyList<LoRAQueue.Formats.AdapterFile>?> GetFilesAsync(string id, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<LoRAQueue.Formats.AdapterFile>?>(null);
}

/// <summary>Why an adapter could not be registered; the message says what to fix.</summary>
public sealed class AdapterRegistrationException(string message, Exception? inner = null) : Exception(message, inner);
