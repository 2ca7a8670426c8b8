using System.Text.Json.Serialization;

namespace LoRAQueue.Core.Placement;

/// <summary>
/// What a placement policy sees: the workers (capacity and memory) and each adapter's token demand.
/// JSON (snake_case, unknown fields ignored):
/// <c>{"rank_buckets": [8, 16, …]?, "workers": [{"id", "memory_bytes", "operating_points": {"8": tokens_per_s, …},
/// "rank_queues"?, "serves_base"?, "resident_adapters"?}], "adapters": [{"id", "rank", "size_bytes", "demand_tps",
/// "demand_windows"?}]}</c>.
/// Base-model demand (jobs without an adapter, queue lora-base) is an adapter entry with <c>"id": null</c> and rank 0
/// (or no rank): it has no bytes to place, every worker can serve it, and policies treat it as rank group 0.
/// </summary>
public sealed record LoadSnapshot
{
    /// <summary>The rank bucket boundaries jobs are queued by; absent = <see cref="RankBuckets.Default"/>.</summary>
    public IReadOnlyList<int>? RankBuckets { get; init; }
    public required IReadOnlyList<WorkerState> Workers { get; init; }
    public required IReadOnlyList<AdapterDemand> Adapters { get; init; }

    public RankBuckets Buckets() => RankBuckets is null ? LoRAQueue.Core.RankBuckets.Default : new RankBuckets(RankBuckets);
}

/// <summary>One worker as its heartbeat reports it.</summary>
public sealed record WorkerState
{
    public required string Id { get; init; }

    /// <summary>Bytes this worker can give to resident adapters (what is left after weights and KV cache).</summary>
    public required long MemoryBytes { get; init; }

    /// <summary>Measured tokens/s the worker sustains within the SLO when the largest rank it serves is the key
    /// (key 0 = base model only). Missing ranks are interpolated, see <see cref="OperatingPointCurve"/>.</summary>
    public required IReadOnlyDictionary<int, double> OperatingPoints { get; init; }

    /// <summary>Current state, optional: the rank queues it consumes, whether it consumes lora-base, what it holds.</summary>
    public IReadOnlyList<int>? RankQueues { get; init; }
    public bool? ServesBase { get; init; }
    public IReadOnlyList<string>? ResidentAdapters { get; init; }

    /// <summary>The placement epoch the worker has applied (0 = none yet); null when not reported.</summary>
    public long? Epoch { get; init; }
}

/// <summary>One adapter's demand. <see cref="Id"/> null = the base model (rank 0, no bytes).</summary>
public sealed record AdapterDemand
{
    public string? Id { get; init; }

    /// <summary>The adapter's largest module rank; its queue is the rank bucket this rounds up to.</summary>
    public int Rank { get; init; }
    public long SizeBytes { get; init; }

    /// <summary>Prompt + output tokens per second expected in the next window.</summary>
    public double DemandTps { get; init; }

    /// <summary>Optional recent windows (tokens/s, oldest first) that <see cref="DemandForecaster"/> turns into
    /// <see cref="DemandTps"/>.</summary>
    public IReadOnlyList<double>? DemandWindows { get; init; }

    [JsonIgnore] public bool IsBase => Id is null;
}

/// <summary>A snapshot or plan that cannot be placed as given; the message names the field and the reason.</summary>
public sealed class PlacementInputException(string message, Exception? inner = null) : Exception(message, inner);
