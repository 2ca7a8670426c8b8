using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoRAQueue.LoadState;

/// <summary>What a worker reports every few seconds; it lives in Redis for the heartbeat TTL, so a worker that
/// stops reporting drops out of the load state on its own. JSON is snake_case.</summary>
public sealed record WorkerHeartbeat
{
    public required string Worker { get; init; }

    /// <summary>Tokens/s the worker sustains now (its measured capacity at its current largest rank).</summary>
    public double CapacityTps { get; init; }

    /// <summary>Bytes free for resident adapters (after weights and KV cache).</summary>
    public long MemoryFreeBytes { get; init; }

    public IReadOnlyList<string> ResidentAdapters { get; init; } = [];

    /// <summary>The rank bucket queues it consumes; <see cref="ServesBase"/> says whether it consumes lora-base.</summary>
    public IReadOnlyList<int> RankBuckets { get; init; } = [];
    public bool ServesBase { get; init; }

    /// <summary>Jobs in its engine now: peers pulling an adapter ask the least busy holder first.</summary>
    public int JobsInEngine { get; init; }

    /// <summary>The placement epoch the worker has applied.</summary>
    public long Epoch { get; init; }

    public DateTimeOffset At { get; init; }

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

/// <summary>What the caller's adapter registry knows about an adapter: its largest module rank and its bytes.</summary>
public readonly record struct AdapterInfo(int Rank, long SizeBytes);

/// <summary>One source's demand: the base model (<see cref="AdapterId"/> null) or an adapter, in tokens/s per
/// window, oldest first.</summary>
public sealed record AdapterDemandWindows(string? AdapterId, IReadOnlyList<double> WindowsTps);
