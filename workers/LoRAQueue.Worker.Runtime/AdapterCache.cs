using LoRAQueue.Contracts;
using LoRAQueue.Contracts.Admission;
using LoRAQueue.Core.Residency;
using LoRAQueue.Formats;
using LoRAQueue.History;
using LoRAQueue.Worker.DataPlane;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>The outcome of making an adapter resident: loaded, or why not; <see cref="Record"/> is the registry's record
/// whenever the adapter is registered (so its owner can be checked even when its files cannot be loaded).
/// <see cref="Load"/>: where the bytes came from for the load that made it resident.</summary>
public sealed record AdapterLookup(bool Loaded, string? Problem, AdapterRecord? Record, AdapterLoad? Load = null)
{
    public static AdapterLookup Unknown(string problem) => new(false, problem, null);
}

/// <summary>
/// The worker's active tier: adapters loaded in the engine, at most MaxResidentAdapters of them, the least recently used
/// unloaded first. Their bytes come through <see cref="AdapterFetcher"/> (host cache → peer → store), verified against the
/// registered digest. Requests already in the engine keep the weights they were submitted with, so unloading never
/// disturbs a running job. Concurrent requests for one adapter share one load.
/// </summary>
public sealed class AdapterCache(EngineRuntime runtime, IAdapterRegistry registry, WorkerSettings settings, AdapterFetcher fetcher,
                                 ILogger<AdapterCache> logger)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _recency = new(); // most recent first

    private readonly Dictionary<string, int> _inUse = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _digests = new(StringComparer.Ordinal); // adapter id → digest, once known
    private HashSet<string> _needed = new(StringComparer.Ordinal);

    private sealed record Entry(Task<AdapterLookup> Load, LinkedListNode<string> Node)
    {
        public long CheckedAt { get; set; } = System.Diagnostics.Stopwatch.GetTimestamp();
    }

    public IReadOnlyList<string> Resident
    {
        get { lock (_lock) return [.. _recency.Where(id => _entries[id].Load.IsCompletedSuccessfully && _entries[id].Load.Result.Loaded)]; }
    }

    /// <summary>Adapters that jobs in the engine hold now (see <see cref="Use"/>).</summary>
    public IReadOnlySet<string> InUse
    {
        get { lock (_lock) return _inUse.Keys.ToHashSet(StringComparer.Ordinal); }
    }

    /// <summary>Marks an adapter as used by a running job until the result is disposed; a placement never evicts it meanwhile.</summary>
    public IDisposable Use(string adapterId)
    {
        lock (_lock) _inUse[adapterId] = _inUse.GetValueOrDefault(adapterId) + 1;
        return new Release(this, adapterId);
    }

    /// <summary>Unloads an adapter a placement no longer wants; false when it is in use, loading, or not resident.</summary>
    public bool Evict(string adapterId)
    {
        lock (_lock)
        {
            if (_inUse.ContainsKey(adapterId) || !_entries.TryGetValue(adapterId, out var entry) || !entry.Load.IsCompleted) return false;
            _entries.Remove(adapterId);
            _recency.Remove(entry.Node);
        }
        bool unloaded = runtime.Engine.UnloadAdapter(adapterId);
        if (unloaded) logger.LogInformation("Unloaded adapter {AdapterId} (no longer placed here)", adapterId);
        return unloaded;
    }

    private sealed class Release(AdapterCache cache, string adapterId) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 1) return;
            lock (cache._lock)
            {
                if (--cache._inUse[adapterId] == 0) cache._inUse.Remove(adapterId);
            }
        }
    }

    public AdapterFetcher Fetcher => fetcher;

    /// <summary>The adapters the current placement gives this worker: neither tier evicts them to make room.</summary>
    public void SetNeeded(IEnumerable<string> adapterIds)
    {
        lock (_lock)
        {
            _needed = new HashSet<string>(adapterIds, StringComparer.Ordinal);
            ShareNeededDigestsLocked();
        }
    }

    /// <summary>The host cache keeps the needed adapters' bytes by digest: those whose digest is known so far.</summary>
    private void ShareNeededDigestsLocked() =>
        fetcher.Cache.SetNeeded(_needed.Select(id => _digests.GetValueOrDefault(id)).OfType<string>());

    /// <summary>Makes the adapter resident; <paramref name="cause"/> ("job", "placement") labels a pull it starts. The result's
    /// <see cref="AdapterLookup.Load"/> says "active" with 0 ms when it was resident already, else where this load read it
    /// and how long the caller waited.</summary>
    public async Task<AdapterLookup> EnsureLoadedAsync(string adapterId, CancellationToken ct, string cause = "job")
    {
        Task<AdapterLookup> load;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        bool wasResident;
        Entry? recheck = null;
        lock (_lock)
        {
            if (_entries.TryGetValue(adapterId, out var entry))
            {
                _recency.Remove(entry.Node);
                _recency.AddFirst(entry.Node);
                load = entry.Load;
                if (load.IsCompletedSuccessfully && load.Result.Loaded && System.Diagnostics.Stopwatch.GetElapsedTime(entry.CheckedAt) >= settings.AdapterRecheck)
                {
                    entry.CheckedAt = System.Diagnostics.Stopwatch.GetTimestamp();
                    recheck = entry;
                }
            }
            else
            {
                load = LoadAsync(adapterId, cause);
                _entries[adapterId] = new Entry(load, _recency.AddFirst(adapterId));
                EvictBeyondCapacity();
            }
        }

        if (recheck is not null && await ChangedAsync(adapterId, recheck.Load.Result.Record, ct).ConfigureAwait(false))
        {
            Forget(adapterId, recheck.Load);
            runtime.Engine.UnloadAdapter(adapterId); // jobs in the engine keep the weights they started with
            return await EnsureLoadedAsync(adapterId, ct, cause).ConfigureAwait(false);
        }
        wasResident = load.IsCompletedSuccessfully && load.Result.Loaded;
        AdapterLookup result;
        try
        {
            result = await load.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            Forget(adapterId, load); // a registry outage is not remembered: the next job tries again
            throw;
        }
        if (!result.Loaded) Forget(adapterId, load); // nor is "unknown": the adapter may be registered a moment later
        if (!result.Loaded || result.Load is null) return result;
        return result with
        {
            Load = wasResident
                ? new AdapterLoad("active", 0)
                : result.Load with { Ms = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds },
        };
    }

    private async Task<AdapterLookup> LoadAsync(string adapterId, string cause)
    {
        await Task.Yield(); // never load under the caller's lock
        if (!SubmitJobRules.IsAdapterIdShape(adapterId))
            return AdapterLookup.Unknown($"adapter id '{adapterId}' is not a valid name (letters, digits, '-', '_', '.')");
        var record = await registry.GetAsync(adapterId, CancellationToken.None).ConfigureAwait(false);
        if (record is null) return AdapterLookup.Unknown($"adapter '{adapterId}' is not registered");
        var files = record.Digest is null ? null : await registry.GetFilesAsync(adapterId, CancellationToken.None).ConfigureAwait(false);
        if (files is null || files.Count == 0) return LoadUnaddressed(adapterId, record);

        var manifest = AdapterManifest.Of(files);
        lock (_lock)
        {
            _digests[adapterId] = manifest.Digest;
            if (_needed.Contains(adapterId)) ShareNeededDigestsLocked();
        }
        if (manifest.Digest != record.Digest)
            return new AdapterLookup(false, $"adapter '{adapterId}': its registered files do not hash to its registered digest: register it again", record);
        FetchedAdapter fetched;
        try
        {
            fetched = await fetcher.FetchAsync(adapterId, manifest, cause, CancellationToken.None).ConfigureAwait(false);
        }
        catch (PullFailedException e)
        {
            string why = e.Skipped.LastOrDefault(s => s.Source == "store")?.Message ?? e.Message;
            return new AdapterLookup(false, $"adapter '{adapterId}' in the store is not the registered one or cannot be read ({why}): register it again", record);
        }
        using (fetched)
        {
            try
            {
                var adapter = LoraAdapter.Load(fetched.Image(adapterId), runtime.Config);
                runtime.Engine.LoadAdapter(adapterId, adapter);
                logger.LogInformation("Loaded adapter {AdapterId} from {Source} (max rank {Rank}, {Size:N0} bytes)", adapterId, fetched.Source, adapter.MaxRank, adapter.SizeBytes);
                return new AdapterLookup(true, null, record, new AdapterLoad(fetched.Source, 0));
            }
            catch (Exception e) when (e is AdapterFormatException or SafeTensorsException)
            {
                return new AdapterLookup(false, $"adapter '{adapterId}' could not be loaded: {e.Message}", record);
            }
        }
    }

    /// <summary>True when the adapter was registered anew (other bytes) or unregistered since it was loaded. A registry that
    /// cannot be read keeps the loaded adapter: the next recheck asks again.</summary>
    private async Task<bool> ChangedAsync(string adapterId, AdapterRecord? loaded, CancellationToken ct)
    {
        AdapterRecord? current;
        try
        {
            current = await registry.GetAsync(adapterId, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogDebug("Could not recheck adapter {AdapterId}'s registration: {Message}", adapterId, e.Message);
            return false;
        }
        if (current is not null && current.Digest == loaded?.Digest && current.Tenant == loaded?.Tenant) return false;
        logger.LogInformation("Adapter {AdapterId} was {Change} since it was loaded: loading what is registered now", adapterId,
            current is null ? "unregistered" : "registered again with other bytes");
        return true;
    }

    /// <summary>An adapter registered before content digests (no files recorded): read from the store unverified.</summary>
    private AdapterLookup LoadUnaddressed(string adapterId, AdapterRecord record)
    {
        var directory = Path.Combine(settings.AdapterStorePath, adapterId);
        if (!Directory.Exists(directory))
            return new AdapterLookup(false, $"adapter '{adapterId}' is registered but its directory '{directory}' is missing from the adapter store", record);
        try
        {
            var adapter = LoraAdapter.Load(directory, runtime.Config);
            runtime.Engine.LoadAdapter(adapterId, adapter);
            logger.LogInformation("Loaded adapter {AdapterId} from the store without a digest check (registered before digests; register it again to add one)", adapterId);
            return new AdapterLookup(true, null, record, new AdapterLoad("store", 0));
        }
        catch (Exception e) when (e is AdapterFormatException or SafeTensorsException or IOException or UnauthorizedAccessException)
        {
            return new AdapterLookup(false, $"adapter '{adapterId}' could not be loaded from '{directory}': {e.Message}", record);
        }
    }

    private void EvictBeyondCapacity()
    {
        var node = _recency.Last;
        while (_entries.Count > settings.MaxResidentAdapters && node is not null)
        {
            var previous = node.Previous;
            var entry = _entries[node.Value];
            if (entry.Load.IsCompleted && !_needed.Contains(node.Value)) // a load in progress is about to be used
            {
                _entries.Remove(node.Value);
                _recency.Remove(node);
                if (runtime.Engine.UnloadAdapter(node.Value))
                    logger.LogInformation("Unloaded adapter {AdapterId} (least recently used)", node.Value);
            }
            node = previous;
        }
    }

    private void Forget(string adapterId, Task<AdapterLookup> load)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(adapterId, out var entry) && entry.Load == load)
            {
                _entries.Remove(adapterId);
                _recency.Remove(entry.Node);
            }
        }
    }
}
