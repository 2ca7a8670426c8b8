using LoRAQueue.Twin;

namespace LoRAQueue.Cli.Cluster;

/// <summary>TTFT percentiles (seconds) of one rank bucket (0 = base model), and its SLO attainment over all of its requests.</summary>
internal sealed record RankLatency(int Rank, int Requests, int Completed, double? TtftP50S, double? TtftP95S, double? TtftP99S, double SloAttainment);

/// <summary>Throughput and latency of one run, live or twin.</summary>
internal sealed record RunFigures
{
    public required int Requests { get; init; }
    public required int Completed { get; init; }
    public int Failed { get; init; }
    public required double ThroughputRps { get; init; }
    public required double OutputTokensPerS { get; init; }
    public required double MakespanS { get; init; }
    public double? TtftP50S { get; init; }
    public double? TtftP95S { get; init; }
    public double? TtftP99S { get; init; }
    public required double SloAttainment { get; init; }
    public required IReadOnlyList<RankLatency> ByRank { get; init; }
    /// <summary>Live only: TTFT inside the engine (its submit → first token, JobCompleted.timings.ttftMs), seconds.</summary>
    public double? EngineTtftP50S { get; init; }
    public double? EngineTtftP95S { get; init; }
    /// <summary>Live only: due time → the engine (replay lateness, gateway, broker, delivery, admission, adapter), ms.</summary>
    public double? PickupP50Ms { get; init; }
    public double? PickupP95Ms { get; init; }
}

/// <summary>Twin against live, in percent of the live figure ((twin − live) ÷ live).</summary>
internal sealed record TwinComparison(double? ThroughputPct, double? OutputTokensPct, double? TtftP50Pct, double? TtftP95Pct, double? TtftP99Pct,
                                      double MeanUtilisation, double MaxUtilisation);

/// <summary>One process of the fleet: CPU seconds (user + system, from /proc) from the replay's start (or the process's, if later) to the
/// end of the drain, all its CPU seconds since it started, and its peak resident memory (VmHWM; Postgres: the sum of its processes' anonymous memory plus the shared memory once, the largest of the samples).</summary>
internal sealed record ProcessUsage(string Role, string Id, int Pid, double CpuSeconds, double TotalCpuSeconds, double PeakRssMb, string State);

/// <summary>Per role: processes, CPU seconds in all, CPU as cores over the run, peak RSS of one and in all.</summary>
internal sealed record RoleUsage(string Role, int Processes, double CpuSeconds, double Cores, double MaxPeakRssMb, double SumPeakRssMb);

/// <summary>How far the emulated steps fell behind the cost model (from each worker's last log line at its clean stop).</summary>
internal sealed record EmulationFigures(int WorkersReporting, double ModelledSeconds, double LostSeconds, double LostShare, double MaxLostSeconds);

/// <summary>A placement the scheduler recorded: when (seconds after the replay's start), its epoch, why, and how many workers consume each queue.</summary>
internal sealed record PlacementEntry(double AtSeconds, long Epoch, string Policy, string Reason, IReadOnlyDictionary<string, int> WorkersPerQueue);

/// <summary>Adapter pulls by source (AdapterPulled events) and how the jobs found their adapter (JobCompleted.adapterLoad).</summary>
internal sealed record AdapterFigures(IReadOnlyDictionary<string, int> JobsBySource, IReadOnlyDictionary<string, PullFigures> PullsBySource);

internal sealed record PullFigures(int Pulls, long Bytes, double MeanMs);

/// <summary>What a fault did: when it started and ended (seconds after the replay's start), what it touched, and how long service took to return.</summary>
internal sealed record FaultOutcome(int Index, string Action, string Description, double StartedAtS, double EndedAtS, string Detail, double? RecoveryS);

/// <summary>A batch posted during a fault (kill-gateway-during-batch): its lines, those its 202 answer refused, those with a job in
/// the history, those with none (lost: the client was told of some, but every line should have been queued), those with more
/// than one (duplicated), and how many batches the drill's key made (1: the retry resumed the first).</summary>
internal sealed record BatchCheck(Guid BatchId, int Lines, int LinesRefused, int LinesWithAJob, int LinesLost, int LinesDuplicated, int Batches)
{
    public bool Held => LinesLost == 0 && LinesDuplicated == 0 && Batches == 1;
}

/// <summary>The fleet's settings, the same ones the twin was given.</summary>
internal sealed record ClusterSetup(int Workers, int Gateways, int Schedulers, string RabbitMqNodes, string Profile, string Kernel, string Policy,
                                   int MaxSequences, int MaxBatchTokens, long KvTokens, int KvCacheMb, int MaxAdapters, string Peers, string Model,
                                   double SloTtftS, double RateScale, int Cores);

/// <summary>What `loraqueue bench cluster --json` prints.</summary>
internal sealed record ClusterReport
{
    public required string Trace { get; init; }
    public required int Requests { get; init; }
    public required double OfferedRps { get; init; }
    public required int Clamped { get; init; }
    public required ClusterSetup Setup { get; init; }
    public required int Accepted { get; init; }
    public required int Refused { get; init; }
    public required int OtherAnswers { get; init; }
    /// <summary>Requests accepted after one or more retries (the producer's), the retries in all, and the answers a gateway gave
    /// as a replay of an earlier try (Idempotent-Replayed: the first try had queued the job).</summary>
    public int Retried { get; init; }
    public int RetryAttempts { get; init; }
    public int Replayed { get; init; }
    public double? SubmitLatenessP99Ms { get; init; }
    public required RunFigures Live { get; init; }
    public RunFigures? Twin { get; init; }
    public TwinComparison? Comparison { get; init; }
    /// <summary>The twin's pick-up time per job (--twin-pickup-ms): 0 unless given.</summary>
    public double TwinPickupMs { get; init; }
    /// <summary>When a pick-up time was given: the twin without it.</summary>
    public RunFigures? TwinWithoutPickup { get; init; }
    public required IReadOnlyList<JobCounts> Jobs { get; init; }
    public required IReadOnlyList<FaultOutcome> Faults { get; init; }
    public IReadOnlyList<BatchCheck> Batches { get; init; } = [];
    /// <summary>Replayed requests with more than one job in the history (a retry queued again under a new id).</summary>
    public int RequestsWithTwoJobs { get; init; }
    /// <summary>Webhook deliveries received again under a webhook-id already received (at-least-once delivery: the sending
    /// gateway died before it recorded the first); the job counts take each webhook-id once.</summary>
    public int WebhooksRedelivered { get; init; }
    public required IReadOnlyList<PlacementEntry> Placements { get; init; }
    public required AdapterFigures Adapters { get; init; }
    public EmulationFigures? Emulation { get; init; }
    public required IReadOnlyList<RoleUsage> Usage { get; init; }
    public required IReadOnlyList<ProcessUsage> Processes { get; init; }
    public required double WallSeconds { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>Every accepted job ended exactly once, nothing stuck, every webhook once, every drill batch line one job, none unanswered, every fault carried out.</summary>
    public bool Held => Jobs.All(j => j.Held) && Batches.All(b => b.Held) && RequestsWithTwoJobs == 0 && OtherAnswers == 0
                        && Faults.All(f => !f.Detail.StartsWith("FAILED", StringComparison.Ordinal));
}

/// <summary>The figures of a run from each request's (rank, TTFT if it got a first token, output tokens, finish time).</summary>
internal static class Figures
{
    public static double? Percentile(IReadOnlyList<double> values, double p) => TwinResult.Percentile(values, p);

    /// <param name="jobs">Every request: its rank, TTFT in seconds (null: none), output tokens, finish time in seconds after the start (null: none), failed.</param>
    public static RunFigures Of(IReadOnlyList<(int Rank, double? Ttft, int OutputTokens, double? Finished, bool Failed)> jobs, double firstArrival, double slo)
    {
        var done = jobs.Where(j => j.Finished is not null && !j.Failed).ToList();
        double last = done.Count == 0 ? firstArrival : done.Max(j => j.Finished!.Value);
        double makespan = Math.Max(1e-9, last - firstArrival);
        var ttfts = jobs.Where(j => j.Ttft is not null && !j.Failed).Select(j => j.Ttft!.Value).ToList();
        return new RunFigures
        {
            Requests = jobs.Count,
            Completed = done.Count,
            Failed = jobs.Count(j => j.Failed),
            ThroughputRps = Math.Round(done.Count / makespan, 3),
            OutputTokensPerS = Math.Round(done.Sum(j => (long)j.OutputTokens) / makespan, 1),
            MakespanS = Math.Round(makespan, 3),
            TtftP50S = Percentile(ttfts, 0.50),
            TtftP95S = Percentile(ttfts, 0.95),
            TtftP99S = Percentile(ttfts, 0.99),
            SloAttainment = jobs.Count == 0 ? 0 : Math.Round(ttfts.Count(t => t <= slo) / (double)jobs.Count, 4),
            ByRank = [.. jobs.GroupBy(j => j.Rank).OrderBy(g => g.Key).Select(g =>
            {
                var t = g.Where(j => j.Ttft is not null && !j.Failed).Select(j => j.Ttft!.Value).ToList();
                return new RankLatency(g.Key, g.Count(), g.Count(j => j.Finished is not null && !j.Failed), Percentile(t, 0.5), Percentile(t, 0.95),
                                       Percentile(t, 0.99), Math.Round(t.Count(x => x <= slo) / (double)g.Count(), 4));
            })],
        };
    }

    /// <summary>(twin − live) ÷ live in percent, rounded to 0.1; null when either is missing or live is 0.</summary>
    public static double? Diff(double? live, double? twin) =>
        live is { } l && twin is { } t && l != 0 ? Math.Round((t - l) / l * 100, 1) : null;

    public static TwinComparison Compare(RunFigures live, RunFigures twin, TwinResult result) => new(
        Diff(live.ThroughputRps, twin.ThroughputRps), Diff(live.OutputTokensPerS, twin.OutputTokensPerS), Diff(live.TtftP50S, twin.TtftP50S),
        Diff(live.TtftP95S, twin.TtftP95S), Diff(live.TtftP99S, twin.TtftP99S),
        result.WorkerStats.Count == 0 ? 0 : Math.Round(result.WorkerStats.Average(w => w.Utilisation), 3),
        result.WorkerStats.Count == 0 ? 0 : result.WorkerStats.Max(w => w.Utilisation));

    /// <summary>Per role sums over the processes, CPU as cores over <paramref name="wallSeconds"/>.</summary>
    public static IReadOnlyList<RoleUsage> ByRole(IReadOnlyList<ProcessUsage> processes, double wallSeconds) =>
        [.. processes.GroupBy(p => p.Role).Select(g => new RoleUsage(g.Key, g.Count(), Math.Round(g.Sum(p => p.CpuSeconds), 2),
            Math.Round(g.Sum(p => p.CpuSeconds) / Math.Max(1e-9, wallSeconds), 3), Math.Round(g.Max(p => p.PeakRssMb), 1),
            Math.Round(g.Sum(p => p.PeakRssMb), 1)))];
}
