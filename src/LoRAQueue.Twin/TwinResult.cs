using System.Text.Json.Serialization;

namespace LoRAQueue.Twin;

/// <summary>One worker in a twin run: how busy it was (step time ÷ simulated time) and what it ran.</summary>
public sealed record TwinWorkerStats(string Worker, double Utilisation, int Completed, long OutputTokens, IReadOnlyList<int> FinalRankQueues,
                                     bool ServesBase);

/// <summary>What `loraqueue twin run --json` prints (snake_case). TTFT is arrival → first token, queueing included.</summary>
public sealed record TwinResult
{
    public required string Policy { get; init; }
    public required string Kernel { get; init; }
    public required string CostModel { get; init; }
    public required int Workers { get; init; }
    public required int Requests { get; init; }
    public required int Completed { get; init; }
    /// <summary>Jobs that could never fit the KV cache (the engine refuses them).</summary>
    public required int Refused { get; init; }
    public required int Unfinished { get; init; }
    public required double ThroughputRps { get; init; }
    public required double OutputTokensPerS { get; init; }
    public double? TtftP50S { get; init; }
    public double? TtftP95S { get; init; }
    public double? TtftP99S { get; init; }
    public required double SloTtftS { get; init; }
    /// <summary>Of all requests, the share that got a first token within the SLO.</summary>
    public required double SloAttainment { get; init; }
    public required double SimulatedSeconds { get; init; }
    public required double WallSeconds { get; init; }
    [JsonPropertyName("speedup")] public double SimulatedPerWallSecond => WallSeconds > 0 ? Math.Round(SimulatedSeconds / WallSeconds, 1) : 0;
    public required long Events { get; init; }
    public required int AdapterLoads { get; init; }
    public required int Preemptions { get; init; }
    public required IReadOnlyList<TwinWorkerStats> WorkerStats { get; init; }
    public required IReadOnlyList<TwinPlacement> Placements { get; init; }
    /// <summary>Each completed request's TTFT in seconds, in arrival order (for CDF plots); not printed by default.</summary>
    [JsonIgnore] public IReadOnlyList<double> Ttfts { get; init; } = [];
    /// <summary>Every request's fate, in the trace's order (for `--requests-out`); not printed.</summary>
    [JsonIgnore] public IReadOnlyList<TwinJob> Jobs { get; init; } = [];

    internal static TwinResult From(TwinOptions options, IReadOnlyList<TwinJob> jobs, IReadOnlyList<SimulatedWorker> workers,
                                    IReadOnlyList<TwinPlacement> placements, int adapterLoads, int refused, EventQueue clock, TimeSpan wall)
    {
        var done = jobs.Where(j => j.FinishedSeconds is not null && j.FirstTokenSeconds is not null).ToList();
        double first = jobs.Count == 0 ? 0 : jobs.Min(j => j.Request.ArrivalSeconds);
        double last = done.Count == 0 ? first : done.Max(j => j.FinishedSeconds!.Value);
        double makespan = Math.Max(1e-9, last - first);
        var ttfts = done.Select(j => j.TtftSeconds!.Value).ToList();
        long tokens = done.Sum(j => (long)j.OutputTokens);
        return new TwinResult
        {
            Policy = options.Policy,
            Kernel = options.Kernel.ToString().ToLowerInvariant(),
            CostModel = options.Cost.Name,
            Workers = options.Workers,
            Requests = jobs.Count,
            Completed = done.Count,
            Refused = refused,
            Unfinished = jobs.Count - done.Count - refused,
            ThroughputRps = Math.Round(done.Count / makespan, 3),
            OutputTokensPerS = Math.Round(tokens / makespan, 1),
            TtftP50S = Percentile(ttfts, 0.50),
            TtftP95S = Percentile(ttfts, 0.95),
            TtftP99S = Percentile(ttfts, 0.99),
            SloTtftS = options.SloTtftSeconds,
            SloAttainment = jobs.Count == 0 ? 0 : Math.Round(ttfts.Count(t => t <= options.SloTtftSeconds) / (double)jobs.Count, 4),
            // To the last completion (or arrival): the scheduler's periodic checks after it are not traffic.
            SimulatedSeconds = Math.Round(Math.Max(last, jobs.Count == 0 ? 0 : jobs.Max(j => j.Request.ArrivalSeconds)), 3),
            WallSeconds = Math.Round(wall.TotalSeconds, 3),
            Events = clock.Processed,
            AdapterLoads = adapterLoads,
            Preemptions = done.Sum(j => j.Preemptions),
            WorkerStats = [.. workers.Select(w => new TwinWorkerStats(w.Id, Math.Round(w.BusySeconds / Math.Max(1e-9, makespan), 3),
                done.Count(j => j.Worker == w.Id), done.Where(j => j.Worker == w.Id).Sum(j => (long)j.OutputTokens),
                [.. w.Queues.Where(q => q != 0).Order()], w.Queues.Contains(0)))],
            Placements = placements,
            Ttfts = ttfts,
            Jobs = jobs,
        };
    }

    /// <summary>Nearest-rank percentile in seconds (4 decimals); null without samples.</summary>
    public static double? Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0) return null;
        var sorted = values.Order().ToList();
        int rank = (int)Math.Ceiling(p * sorted.Count);
        return Math.Round(sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)], 4);
    }
}
