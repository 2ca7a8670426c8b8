using LoRAQueue.Contracts;
using LoRAQueue.Core.Residency;
using LoRAQueue.Formats;
using LoRAQueue.Ucx;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker.DataPlane;

/// <summary>An adapter's verified bytes, ready to load: a host-cache slot (pinned) or, when the cache cannot take it, a
/// buffer of its own. <see cref="Source"/>: "host", "peer" or "store". Dispose once the engine has its copy.</summary>
public sealed class FetchedAdapter(string source, HostCache cache, HostSlot? slot, NativeBuffer? buffer, IReadOnlyList<AdapterFile> files,
                                   IDisposable? pin) : IDisposable
{
    public string Source { get; } = source;

    public unsafe AdapterImage Image(string name) =>
        slot is not null ? cache.Image(slot, name) : new AdapterImage(name, (byte*)buffer!.Address, files);

    public void Dispose()
    {
        pin?.Dispose();
        ((IDisposable?)buffer)?.Dispose();
    }
}

/// <summary>
/// Gets an adapter's bytes by digest, nearest first: this worker's host cache → a peer that holds them (least busy first)
/// → the store. Concurrent needs for one digest share one pull; a byte budget bounds the pulls in flight; every pull is
/// checked file by file against the registered digest and, once verified, kept in the host cache and advertised to peers.
/// Raises <see cref="Pulled"/> and <see cref="PullFailed"/> for the metrics.
/// </summary>
public sealed class AdapterFetcher
{
    private readonly HostCache _cache;
    private readonly IAdapterExchange _exchange;
    private readonly WorkerSettings _settings;
    private readonly ILogger _logger;
    private readonly AdapterPuller _puller;
    private readonly PullBudget _budget;
    private readonly SharedPulls<string, PullOutcome?> _shared = new();

    public AdapterFetcher(HostCache cache, IAdapterExchange exchange, WorkerSettings settings, ILogger logger)
    {
        (_cache, _exchange, _settings, _logger) = (cache, exchange, settings, logger);
        _puller = new AdapterPuller(settings.PullTimeout);
        _budget = new PullBudget(settings.PullBudgetBytes);
        cache.Evicted += slot => _ = exchange.WithdrawAsync(slot);
    }

    public event Action<AdapterPulled>? Pulled;
    public event Action<AdapterPullFailed>? PullFailed;

    public HostCache Cache => _cache;
    public string Transport => _exchange.Transport;

    /// <summary>Throws <see cref="PullFailedException"/> when no source gives the registered bytes (the message says why).</summary>
    public async Task<FetchedAdapter> FetchAsync(string adapterId, AdapterManifest manifest, string cause, CancellationToken ct)
    {
        if (_cache.TryTake(manifest.Digest, out var held, out var heldPin))
            return new FetchedAdapter("host", _cache, held, null, manifest.Files, heldPin);

        // Shared per digest and id: two ids with the same bytes share peers, but each has its own directory in the store.
        var shared = await _shared.RunAsync($"{manifest.Digest}/{adapterId}", () => PullIntoCacheAsync(adapterId, manifest, cause)).WaitAsync(ct);
        if (shared is not null && _cache.TryTake(manifest.Digest, out var slot, out var pin))
            return new FetchedAdapter(Source(shared.Kind), _cache, slot, null, manifest.Files, pin);

        // The cache cannot take it (everything in it is pinned or needed): pull into a buffer of this load's own.
        var buffer = new NativeBuffer(Math.Max(1, manifest.SizeBytes));
        try
        {
            var outcome = await PullAsync(adapterId, manifest, buffer.Memory[..checked((int)manifest.SizeBytes)], cause, ct);
            return new FetchedAdapter(Source(outcome.Kind), _cache, null, buffer, manifest.Files, null);
        }
        catch (Exception e)
        {
            // An abandoned buffer may still be written into: leaked rather than freed (a peer that ignores being closed).
            if (e is not PullFailedException { BufferAbandoned: true }) ((IDisposable)buffer).Dispose();
            throw;
        }
    }

    /// <summary>Pulls into a new host-cache slot and advertises it; null when the cache has no room for it.</summary>
    private async Task<PullOutcome?> PullIntoCacheAsync(string adapterId, AdapterManifest manifest, string cause)
    {
        var slot = _cache.Reserve(manifest.Digest, manifest.SizeBytes, manifest.Files, out var pin);
        if (slot is null)
        {
            _logger.LogWarning("Host cache cannot take adapter {AdapterId} ({Bytes:N0} bytes; {Used:N0} of {Capacity:N0} bytes pinned or needed); loading it without caching",
                adapterId, manifest.SizeBytes, _cache.UsedBytes, _cache.Capacity);
            return null;
        }
        using (pin)
        {
            try
            {
                var outcome = await PullAsync(adapterId, manifest, _cache.Memory(slot), cause, CancellationToken.None);
                _cache.MarkVerified(slot);
                await _exchange.AdvertiseAsync(slot);
                return outcome;
            }
            catch (PullFailedException e)
            {
                _cache.Discard(slot, abandoned: e.BufferAbandoned);
                throw;
            }
        }
    }

    private async Task<PullOutcome> PullAsync(string adapterId, AdapterManifest manifest, Memory<byte> destination, string cause, CancellationToken ct)
    {
        var peers = await _exchange.FindPeersAsync(manifest.Digest, manifest.SizeBytes, ct);
        var store = new StorePullSource(Path.Combine(_settings.AdapterStorePath, adapterId), manifest.Files);
        var files = manifest.Files.Select(f => new PulledFile(f.Path, f.Size, f.Sha256)).OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
        using var lease = await _budget.AcquireAsync(manifest.SizeBytes, ct);
        _logger.LogInformation("Pulling adapter {AdapterId} ({Bytes:N0} bytes) for a {Cause}: {Sources}", adapterId, manifest.SizeBytes, cause,
            string.Join(" → ", peers.Select(p => $"peer {p.Name}").Append("store")));
        try
        {
            var outcome = await _puller.PullAsync(files, [.. peers, store], destination, ct);
            foreach (var skip in outcome.Skipped) LogSkip(adapterId, skip);
            _logger.LogInformation("Pulled adapter {AdapterId} ({Bytes:N0} bytes) from {Source} in {Ms:F1} ms over {Transport}",
                adapterId, manifest.SizeBytes, outcome.Source, outcome.Elapsed.TotalMilliseconds, outcome.Kind == PullSourceKind.Peer ? Transport : "the store");
            Pulled?.Invoke(new AdapterPulled
            {
                Worker = _settings.Id, AdapterId = adapterId, Digest = manifest.Digest, Source = Source(outcome.Kind), From = outcome.Source,
                Bytes = manifest.SizeBytes, Ms = outcome.Elapsed.TotalMilliseconds, Cause = cause, Transport = Transport,
                Skipped = [.. outcome.Skipped.Select(Contract)], At = DateTimeOffset.UtcNow,
            });
            return outcome;
        }
        catch (PullFailedException e)
        {
            foreach (var skip in e.Skipped.Where(s => s.Source != "store")) LogSkip(adapterId, skip);
            var storeSkip = e.Skipped.LastOrDefault(s => s.Source == "store");
            string reason = e.BufferAbandoned ? "abandoned" : storeSkip?.Reason switch
            {
                PullSkipReason.DigestMismatch => "store_mismatch",
                PullSkipReason.Error when storeSkip.Message.Contains("missing", StringComparison.Ordinal) => "store_missing",
                PullSkipReason.Error when storeSkip.Message.Contains("registered with", StringComparison.Ordinal) => "store_mismatch",
                _ => "store_error",
            };
            _logger.LogWarning("Adapter {AdapterId} ({Digest}): no source gave its registered bytes ({Reason}): {Message}; register it again if the store's files changed on purpose",
                adapterId, manifest.Digest[..12], reason, storeSkip?.Message ?? e.Message);
            PullFailed?.Invoke(new AdapterPullFailed
            {
                Worker = _settings.Id, AdapterId = adapterId, Digest = manifest.Digest, Reason = reason, Message = storeSkip?.Message ?? e.Message,
                Skipped = [.. e.Skipped.Select(Contract)], At = DateTimeOffset.UtcNow,
            });
            throw;
        }
    }

    private void LogSkip(string adapterId, PullSkip skip)
    {
        if (skip.Source == "store") return;
        _logger.LogWarning("Skipped peer {Peer} for adapter {AdapterId} ({Reason}): {Message}; trying the next source",
            skip.Source, adapterId, Reason(skip.Reason), skip.Message);
    }

    private static AdapterPullSkip Contract(PullSkip skip) => new(skip.Source, Reason(skip.Reason), skip.Message);

    private static string Reason(PullSkipReason reason) => reason switch
    {
        PullSkipReason.Timeout => "timeout",
        PullSkipReason.DigestMismatch => "digest_mismatch",
        PullSkipReason.Unreachable => "unreachable",
        _ => "error",
    };

    private static string Source(PullSourceKind kind) => kind == PullSourceKind.Peer ? "peer" : "store";
}
