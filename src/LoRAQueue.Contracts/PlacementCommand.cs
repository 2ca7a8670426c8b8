namespace LoRAQueue.Contracts;

/// <summary>
/// The scheduler's instruction to one worker: which rank queues to consume and which adapters to hold.
/// Published (fan-out) once per worker per placement; a worker acts only on commands addressed to it whose
/// <see cref="Epoch"/> is newer than the last one it applied.
/// </summary>
public sealed record PlacementCommand
{
    public int SchemaVersion { get; init; } = MessageSchema.CurrentVersion;
    /// <summary>Monotonically increasing across placements; fences out a stale scheduler.</summary>
    public long Epoch { get; init; }
    public string Worker { get; init; } = "";
    /// <summary>Rank buckets whose queues the worker consumes (lora-rank-{bucket}).</summary>
    public int[] RankQueues { get; init; } = [];
    /// <summary>Whether the worker consumes lora-base.</summary>
    public bool ServesBase { get; init; }
    /// <summary>Adapters to hold resident; fetched before the new queues are consumed (make before break).</summary>
    public string[] Adapters { get; init; } = [];
    public string Policy { get; init; } = "";
    public DateTimeOffset IssuedAt { get; init; }
}
