namespace LoRAQueue.Bench;

/// <summary>`loraqueue bench placement` settings. The defaults were tuned on the project's 2-core machine so that the
/// worst configuration (replicate-all × padded) runs at its saturation knee while the others stay within capacity
/// (see docs/bench-placement.md).</summary>
public sealed record PlacementBenchOptions
{
    /// <summary>Base model directory; null = the demo's cached <c>small</c> model (generated if missing).</summary>
    public string? ModelPath { get; init; }
    public required string CacheRoot { get; init; }
    public int Workers { get; init; } = 3;
    /// <summary>Mean Poisson arrival rate, jobs per second (unused with <see cref="TracePath"/>).</summary>
    public double Rate { get; init; } = 40;
    /// <summary>A request trace to replay instead of Poisson arrivals (any format <see cref="LoRAQueue.Workloads.TraceReader"/>
    /// reads): its requests arriving within <see cref="Duration"/>.</summary>
    public string? TracePath { get; init; }
    /// <summary>How long jobs arrive in each run; the run then drains what is queued.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(30);
    public int Seed { get; init; } = 1;
    public int AdaptersPerRank { get; init; } = 3;
    /// <summary>Per worker: the engine's batch capacity, the calibration batch and the rank-queue prefetch.</summary>
    public int MaxSequences { get; init; } = 16;
    /// <summary>A run gives up when no job finished for this long after the last submission.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public static readonly IReadOnlyList<string> Policies = ["loraserve", "replicate-all"];
    public static readonly IReadOnlyList<string> Kernels = ["padded", "segmented"];

    /// <summary>Null when the options make sense, otherwise a message a user can act on.</summary>
    public string? Problem() =>
        Workers is < 1 or > 8 ? $"--workers must be 1 to 8 (got {Workers})"
        : !(Rate > 0 && double.IsFinite(Rate)) ? $"--rate must be a positive number of jobs per second (got {Rate})"
        : !(Duration > TimeSpan.Zero) ? $"--duration must be a positive number of seconds (got {Duration.TotalSeconds})"
        : Rate * Duration.TotalSeconds < 1 ? $"--rate × --duration must give at least one job (got {Rate * Duration.TotalSeconds:G3})"
        : Rate * Duration.TotalSeconds > 100_000 ? $"--rate × --duration must stay under 100000 jobs (got {Rate * Duration.TotalSeconds:F0})"
        : null;
}
