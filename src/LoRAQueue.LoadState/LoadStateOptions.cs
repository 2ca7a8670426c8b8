namespace LoRAQueue.LoadState;

/// <summary>Lifetimes of the load-state keys. Defaults suit 60 s placement windows and heartbeats every few seconds.</summary>
public sealed record LoadStateOptions
{
    /// <summary>A worker that has not reported for this long is gone.</summary>
    public TimeSpan HeartbeatTtl { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Granularity of demand counters; read windows must be a whole number of buckets.</summary>
    public TimeSpan DemandBucket { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a demand bucket is kept after it ends: the longest history a reader may ask for
    /// (default 5 windows of 60 s, LoRAServe's forecast horizon, twice over).</summary>
    public TimeSpan DemandRetention { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Measured operating points outlive a restart of the scheduler, not a worker that has been gone a day.</summary>
    public TimeSpan OperatingPointsTtl { get; init; } = TimeSpan.FromDays(1);

    internal void Validate()
    {
        foreach (var (name, value) in new[] { (nameof(HeartbeatTtl), HeartbeatTtl), (nameof(DemandBucket), DemandBucket),
                     (nameof(DemandRetention), DemandRetention), (nameof(OperatingPointsTtl), OperatingPointsTtl) })
            if (value < TimeSpan.FromMilliseconds(1)) throw new ArgumentOutOfRangeException(name, value, "must be at least 1 ms");
        if (DemandBucket.Ticks % TimeSpan.TicksPerMillisecond != 0)
            throw new ArgumentOutOfRangeException(nameof(DemandBucket), DemandBucket, "must be a whole number of milliseconds");
    }
}
