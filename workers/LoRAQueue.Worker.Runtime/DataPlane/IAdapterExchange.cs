using LoRAQueue.Core.Residency;

namespace LoRAQueue.Worker.DataPlane;

/// <summary>
/// How a worker shares its host cache with peers and reads theirs: it serves the cache's arena, advertises and withdraws
/// the digests it holds, and finds the peers that hold one (least busy first). Over UCX with the holder directory in Redis
/// (<see cref="UcxAdapterExchange"/>), in memory between the workers of one process (<see cref="LocalAdapterExchange"/>),
/// or not at all (<see cref="NoPeers"/>: the store only).
/// </summary>
public interface IAdapterExchange : IAsyncDisposable
{
    /// <summary>Says how bytes move, for logs and the demo: "ucx (tcp)", "in-memory copy", "none (store only)".</summary>
    string Transport { get; }

    Task ServeAsync(HostCache cache, CancellationToken ct);

    /// <summary>Best effort: a directory that is down only means peers cannot find this copy.</summary>
    Task AdvertiseAsync(HostSlot slot);

    Task WithdrawAsync(HostSlot slot);

    /// <summary>Peers holding <paramref name="digest"/>, least busy first; never this worker. Empty when the directory cannot
    /// be read (the pull goes to the store).</summary>
    Task<IReadOnlyList<IPullSource>> FindPeersAsync(string digest, long sizeBytes, CancellationToken ct);
}

/// <summary>No peers: every pull reads the store.</summary>
public sealed class NoPeers(string reason) : IAdapterExchange
{
    public string Transport { get; } = $"none (store only: {reason})";
    public Task ServeAsync(HostCache cache, CancellationToken ct) => Task.CompletedTask;
    public Task AdvertiseAsync(HostSlot slot) => Task.CompletedTask;
    public Task WithdrawAsync(HostSlot slot) => Task.CompletedTask;
    public Task<IReadOnlyList<IPullSource>> FindPeersAsync(string digest, long sizeBytes, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<IPullSource>>([]);
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
