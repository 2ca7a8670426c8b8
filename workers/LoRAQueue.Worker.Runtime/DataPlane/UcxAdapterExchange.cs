using LoRAQueue.Core.Residency;
using LoRAQueue.LoadState;
using LoRAQueue.Ucx;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker.DataPlane;

/// <summary>How a peer's bytes are read: UCX one-sided GET (real RMA on shared memory and RDMA), or active messages the
/// holder answers with (rendezvous; what tcp runs at socket speed, where UCX 1.13 only emulates GET).</summary>
public enum PullMethod { ActiveMessages, Get }

/// <summary>
/// Peers over UCX, found through the holder directory in Redis (docs/redis-keys.md). The host cache's arena is registered
/// once; each advertised digest carries this worker's UCX address, the slot's remote address and the arena's packed key.
/// Endpoints to peers are kept and reused; one that fails is closed and reopened on the next pull.
/// </summary>
/// <param name="owns">Dispose <paramref name="node"/> with the exchange (the worker process creates it for the exchange).</param>
public sealed class UcxAdapterExchange(UcxNode node, RedisLoadState directory, string workerId, PullMethod method,
                                       ILogger<UcxAdapterExchange> logger, bool owns = false) : IAdapterExchange
{
    /// <summary>Pulls go in chunks of this size, <see cref="ChunksInFlight"/> at a time, so one large adapter keeps the
    /// transport busy without one huge request.</summary>
    public const int ChunkBytes = 4 << 20, ChunksInFlight = 4;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Task<UcxPeer>> _peers = new(StringComparer.Ordinal);
    private UcxRegion? _region;

    public string Transport => $"ucx ({(node.Transports is { Length: > 0 } t ? t : "UCX's choice")}, {(method == PullMethod.Get ? "get" : "active messages")})";

    /// <summary>"auto": GET where every configured transport has real RMA (shared memory, RDMA), else active messages.</summary>
    public static PullMethod Choose(string setting, string transports) => setting switch
    {
        "get" => PullMethod.Get,
        "am" => PullMethod.ActiveMessages,
        _ when transports.Length > 0 && !transports.Split(',').Any(t => t.Trim() is "tcp" or "all" or "") => PullMethod.Get,
        _ => PullMethod.ActiveMessages,
    };

    public async Task ServeAsync(HostCache cache, CancellationToken ct)
    {
        _region = await node.RegisterAsync(cache.Address, (nuint)cache.Capacity).WaitAsync(ct).ConfigureAwait(false);
    }

    public async Task AdvertiseAsync(HostSlot slot)
    {
        if (_region is null) return;
        try
        {
            await directory.AdvertiseAsync(new AdapterHolder
            {
                Worker = workerId, Digest = slot.Digest, SizeBytes = slot.Size, UcxAddress = node.WorkerAddress,
                RemoteAddress = (ulong)_region.Address + (ulong)slot.Offset, PackedRkey = _region.PackedRkey,
            }).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            logger.LogWarning("Could not advertise adapter {Digest} in Redis (peers will read the store instead): {Message}", slot.Digest[..12], e.Message);
        }
    }

    public async Task WithdrawAsync(HostSlot slot)
    {
        try
        {
            await directory.WithdrawAsync(workerId, slot.Digest).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            // A stale record only costs a peer one failed digest check (the range is reused) before it moves on.
            logger.LogWarning("Could not withdraw adapter {Digest} from Redis: {Message}", slot.Digest[..12], e.Message);
        }
    }

    public async Task<IReadOnlyList<IPullSource>> FindPeersAsync(string digest, long sizeBytes, CancellationToken ct)
    {
        IReadOnlyList<AdapterHolder> holders;
        Dictionary<string, int> busy;
        try
        {
            holders = await directory.GetHoldersAsync(digest).WaitAsync(ct).ConfigureAwait(false);
            busy = (await directory.GetLiveWorkersAsync().WaitAsync(ct).ConfigureAwait(false)).ToDictionary(w => w.Worker, w => w.JobsInEngine);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException or InvalidDataException)
        {
            logger.LogWarning("Cannot read adapter holders from Redis; pulling {Digest} from the store: {Message}", digest[..12], e.Message);
            return [];
        }
        return [.. holders
            .Where(h => h.Worker != workerId && h.SizeBytes == sizeBytes)
            .OrderBy(h => busy.GetValueOrDefault(h.Worker, int.MaxValue)) // no heartbeat: last (it is probably gone)
            .ThenBy(h => h.Worker, StringComparer.Ordinal)
            .Select(h => new PeerSource(this, h))];
    }

    /// <summary>One endpoint per holder process: a worker restarted under the same id has a new UCX address.</summary>
    private static string PeerKey(AdapterHolder holder) => $"{holder.Worker}/{Convert.ToHexString(holder.UcxAddress)}";

    private Task<UcxPeer> Connect(AdapterHolder holder)
    {
        string key = PeerKey(holder);
        lock (_lock)
        {
            if (!_peers.TryGetValue(key, out var peer) || peer.IsFaulted) _peers[key] = peer = node.ConnectAsync(holder.UcxAddress);
            return peer;
        }
    }

    /// <summary>Closes the endpoint to a peer that failed or was given up on; its requests end, so nothing more is written.</summary>
    private async Task DropAsync(AdapterHolder holder)
    {
        string key = PeerKey(holder);
        Task<UcxPeer>? peer;
        lock (_lock)
            if (_peers.Remove(key, out peer) is false) return;
        if (peer.IsCompletedSuccessfully) await peer.Result.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        List<Task<UcxPeer>> peers;
        lock (_lock) { peers = [.. _peers.Values]; _peers.Clear(); }
        foreach (var peer in peers.Where(p => p.IsCompletedSuccessfully)) await peer.Result.DisposeAsync().ConfigureAwait(false);
        _region?.Dispose();
        if (owns) node.Dispose();
    }

    private sealed class PeerSource(UcxAdapterExchange exchange, AdapterHolder holder) : IPullSource
    {
        public PullSourceKind Kind => PullSourceKind.Peer;
        public string Name => holder.Worker;

        public async Task ReadAsync(Memory<byte> destination, CancellationToken ct)
        {
            UcxPeer peer;
            try
            {
                peer = await exchange.Connect(holder).WaitAsync(ct).ConfigureAwait(false);
            }
            catch (UcxException e)
            {
                throw new PeerUnreachableException($"cannot connect: {e.Message}", e);
            }
            var chunks = new List<Task>();
            using var slots = new SemaphoreSlim(ChunksInFlight);
            try
            {
                for (int offset = 0; offset < destination.Length; offset += ChunkBytes)
                {
                    await slots.WaitAsync(ct).ConfigureAwait(false);
                    var chunk = destination.Slice(offset, Math.Min(ChunkBytes, destination.Length - offset));
                    ulong remote = holder.RemoteAddress + (ulong)offset;
                    var read = exchange.Read(peer, remote, holder.PackedRkey, chunk);
                    chunks.Add(read.ContinueWith(_ => slots.Release(), TaskScheduler.Default));
                    chunks.Add(read);
                    if (read.IsFaulted) break;
                }
                await Task.WhenAll(chunks).WaitAsync(ct).ConfigureAwait(false);
            }
            catch
            {
                // Closing the endpoint ends every request on it: once they have, nothing writes into the buffer.
                await exchange.DropAsync(holder).ConfigureAwait(false);
                try { await Task.WhenAll(chunks).ConfigureAwait(false); } catch { /* each failed, as intended */ }
                if (chunks.FirstOrDefault(c => c.IsFaulted)?.Exception?.InnerException is UcxException e && !ct.IsCancellationRequested)
                    throw new PeerUnreachableException(e.Message, e);
                throw;
            }
        }
    }

    private Task Read(UcxPeer peer, ulong remote, byte[] rkey, Memory<byte> chunk) =>
        method == PullMethod.Get ? peer.GetAsync(remote, rkey, chunk) : peer.PullAsync(remote, chunk);
}
