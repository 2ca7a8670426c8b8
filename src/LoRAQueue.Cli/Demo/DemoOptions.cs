namespace LoRAQueue.Cli.Demo;

/// <summary>The demo's settings (`loraqueue demo` options).</summary>
internal sealed record DemoOptions
{
    public int Jobs { get; init; } = 300;
    public int Workers { get; init; } = 3;
    public int Seed { get; init; } = 1;
    /// <summary>A request trace to replay instead of the generated workload.</summary>
    public string? TracePath { get; init; }
    /// <summary>How much faster than recorded time to replay; null = whatever fits the replay into about 20 s.</summary>
    public double? Speedup { get; init; }
    public string Kernel { get; init; } = "segmented";
    /// <summary>Where the model and adapters are generated and kept.</summary>
    public required string CacheRoot { get; init; }
    public int AdaptersPerRank { get; init; } = 3;
    /// <summary>The whole replay (submissions and completions) gives up after this.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Once every job is submitted, the replay gives up when none finishes for this long.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>When the output is not an interactive terminal: one plain progress line this often, not a live view.</summary>
    public TimeSpan ProgressLineInterval { get; init; } = TimeSpan.FromSeconds(5);
}
