namespace LoRAQueue.Contracts;

/// <summary>
/// The scheduler's instruction to one worker, sent to that worker's own queue (placement-{worker}): the changes that take
/// it from the state it reported at <see cref="BasedOnEpoch"/> to its part of the placement of <see cref="Epoch"/>. The
/// scheduler computes the diff once; the worker applies exactly it — load, start, stop, evict — and only when it is still
/// on <see cref="BasedOnEpoch"/> and <see cref="Epoch"/> is newer than what it applied (a stale scheduler is fenced out).
/// A worker that refuses stays behind in its heartbeat, and the scheduler places again from the state it reports.
/// </summary>
public sealed record PlacementCommand
{
    public int SchemaVersion { get; init; } = MessageSchema.CurrentVersion;
    /// <summary>Monotonically increasing across placements; fences out a stale scheduler.</summary>
    public long Epoch { get; init; }
    /// <summary>The epoch the worker's reported state (which the diff starts from) was on; 0 = none applied yet.</summary>
    public long BasedOnEpoch { get; init; }
    public string Worker { get; init; } = "";
    /// <summary>Adapters to make resident before any new queue is consumed (make before break).</summary>
    public string[] LoadAdapters { get; init; } = [];
    /// <summary>Queues to start consuming (lora-base, lora-rank-8 …).</summary>
    public string[] StartQueues { get; init; } = [];
    /// <summary>Queues to stop consuming; in-flight jobs finish first.</summary>
    public string[] StopQueues { get; init; } = [];
    /// <summary>Adapters to unload once the queues changed; one a running job still uses is kept.</summary>
    public string[] EvictAdapters { get; init; } = [];
    /// <summary>Where the diff leads: the rank buckets the worker consumes after it (lora-rank-{bucket}), whether it consumes
    /// lora-base. The worker checks its queues against these after applying and logs a mismatch.</summary>
    public int[] RankQueues { get; init; } = [];
    public bool ServesBase { get; init; }
    public string Policy { get; init; } = "";
    public DateTimeOffset IssuedAt { get; init; }
}
