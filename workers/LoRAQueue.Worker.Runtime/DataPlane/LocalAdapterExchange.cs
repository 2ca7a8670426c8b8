using System.Collections.Concurrent;
using LoRAQueue.Core.Residency;

namespace LoRAQueue.Worker.DataPlane;

/// <summary>The holder directory of the workers of one process (the embedded fleet): who holds which digest, in memory.</summary>
public sealed class LocalHolderDirectory
{
    internal readonly ConcurrentDictionary<(string Worker, string Digest), (HostCache Cache, HostSlot Slot)> Holders = new();
    internal readonly ConcurrentDictionary<string, Func<int>> Busy = new(StringComparer.Ordinal);
}

/// <summary>
/// Peers inside one process: a pull copies from the holder's host cache with memcpy. What the embedded demo and
/// <c>bench placement</c> use, so they need no UCX; the bytes are checked against the digest like any peer's.
/// </summary>
public sealed class LocalAdapterExchange(LocalHolderDirectory directory, string workerId, Func<int> jobsInEngine) : IAdapterExchange
{
    private HostCache? _cache;

    public string Transport => "in-memory copy";

    public Task ServeAsync(HostCache cache, CancellationToken ct)
    {
        _cache = cache;
        directory.Busy[workerId] = jobsInEngine;
        return Task.CompletedTask;
    }

    public Task AdvertiseAsync(HostSlot slot)
    {
        if (_cache is { } cache) directory.Holders[(workerId, slot.Digest)] = (cache, slot);
        return Task.CompletedTask;
    }

    public Task WithdrawAsync(HostSlot slot)
    {
        directory.Holders.TryRemove((workerId, slot.Digest), out _);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<IPullSource>> FindPeersAsync(string digest, long sizeBytes, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<IPullSource>>([.. directory.Holders
            .Where(h => h.Key.Digest == digest && h.Key.Worker != workerId && h.Value.Slot.Size == sizeBytes)
            .OrderBy(h => directory.Busy.TryGetValue(h.Key.Worker, out var busy) ? busy() : int.MaxValue)
            .Select(h => new CopySource(h.Key.Worker, h.Value.Cache, h.Value.Slot))]);

    public ValueTask DisposeAsync()
    {
        foreach (var key in directory.Holders.Keys.Where(k => k.Worker == workerId)) directory.Holders.TryRemove(key, out _);
        directory.Busy.TryRemove(workerId, out _);
        return ValueTask.CompletedTask;
    }

    private sealed class CopySource(string worker, HostCache cache, HostSlot slot) : IPullSource
    {
        public PullSourceKind Kind => PullSourceKind.Peer;
        public string Name => worker;

        public Task ReadAsync(Memory<byte> destination, CancellationToken ct)
        {
            cache.Memory(slot).Span.CopyTo(destination.Span);
            return Task.CompletedTask;
        }
    }
}
