using LoRAQueue.Contracts.Admission;
using LoRAQueue.Formats;
using LoRAQueue.History;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>The outcome of making an adapter resident: loaded, or why not; <see cref="Record"/> is the registry's record
/// whenever the adapter is registered (so its owner can be checked even when its files cannot be loaded).</summary>
public sealed record AdapterLookup(bool Loaded, string? Problem, AdapterRecord? Record)
{
    public static AdapterLookup Unknown(string problem) => new(false, problem, null);
}

/// <summary>
/// Loads adapters on demand from the adapter store (&lt;store&gt;/&lt;adapter id&gt;) into the engine and keeps at most
/// MaxResidentAdapters of them, unloading the least recently used. Requests already in the engine keep the weights
/// they were submitted with, so unloading never disturbs a running job. Concurrent requests for one adapter share one load.
/// </summary>
public sealed class AdapterCache(EngineRuntime runtime, IAdapterRegistry registry, WorkerSettings settings, ILogger<AdapterCache> logger)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _recency = new(); // most recent first

    private readonly Dictionary<string, int> _inUse = new(StringComparer.Ordinal);

    private sealed record Entry(Task<AdapterLookup> Load, LinkedListNode<string> Node);

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

    public async Task<AdapterLookup> EnsureLoadedAsync(string adapterId, CancellationToken ct)
    {
        Task<AdapterLookup> load;
        lock (_lock)
        {
            if (_entries.TryGetValue(adapterId, out var entry))
            {
                _recency.Remove(entry.Node);
                _recency.AddFirst(entry.Node);
                load = entry.Load;
            }
            else
            {
                load = LoadAsync(adapterId);
                _entries[adapterId] = new Entry(load, _recency.AddFirst(adapterId));
                EvictBeyondCapacity();
            }
        }

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
        return result;
    }

    private async Task<AdapterLookup> LoadAsync(string adapterId)
    {
        await Task.Yield(); // never load under the caller's lock
        if (!SubmitJobRules.IsAdapterIdShape(adapterId))
            return AdapterLookup.Unknown($"adapter id '{adapterId}' is not a valid name (letters, digits, '-', '_', '.')");
        var record = await registry.GetAsync(adapterId, CancellationToken.None).ConfigureAwait(false);
        if (record is null) return AdapterLookup.Unknown($"adapter '{adapterId}' is not registered");
        var directory = Path.Combine(settings.AdapterStorePath, adapterId);
        if (!Directory.Exists(directory))
            return new AdapterLookup(false, $"adapter '{adapterId}' is registered but its directory '{directory}' is missing from the adapter store", record);
        // Content-addressed: bytes that are not the registered ones are never served, whatever changed them on disk.
        if (record.Digest is { } digest && AdapterManifest.Verify(directory, digest) is not null)
        {
            // Say which file differs (the registry keeps the registered list).
            var registered = await registry.GetFilesAsync(adapterId, CancellationToken.None).ConfigureAwait(false);
            string mismatch = AdapterManifest.Verify(directory, digest, registered) ?? "it changed while being checked";
            logger.LogWarning("Adapter {AdapterId} in the store does not match its registered digest {Digest}: {Mismatch}; register it again if the change is intended",
                              adapterId, digest[..12], mismatch);
            return new AdapterLookup(false, $"adapter '{adapterId}' in the store is not the registered one ({mismatch}): register it again", record);
        }
        try
        {
            var adapter = LoraAdapter.Load(directory, runtime.Config);
            runtime.Engine.LoadAdapter(adapterId, adapter);
            logger.LogInformation("Loaded adapter {AdapterId} (max rank {Rank}, {Size:N0} bytes)", adapterId, adapter.MaxRank, adapter.SizeBytes);
            return new AdapterLookup(true, null, record);
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
            if (entry.Load.IsCompleted) // a load in progress is about to be used
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
