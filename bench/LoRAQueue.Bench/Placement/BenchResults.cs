using LoRAQueue.Contracts;
using LoRAQueue.Core;
using LoRAQueue.Core.Placement;
using LoRAQueue.InProcess;

namespace LoRAQueue.Bench;

/// <summary>One rank bucket's jobs in a run. TTFT runs from submission to the first token (rank-queue wait included).</summary>
public sealed record BucketLatency(int Bucket, int Jobs, int Completed, double? TtftP50Ms, double? TtftP95Ms, double? TtftP99Ms);

/// <summary>What a worker was told to do in a run, what it measured (<see cref="OperatingPointMeasurement"/>: the points the
/// policy planned from, and the uncapped decode rate per rank) and what it did.</summary>
public sealed record WorkerAssignment(string Worker, IReadOnlyList<string> Queues, IReadOnlyList<string> Adapters, int RankGroup,
                                      double ExpectedLoad, IReadOnlyDictionary<int, double> OperatingPoints,
                                      IReadOnlyDictionary<int, double> DecodeTps, int Completed, long OutputTokens);

/// <summary>One policy × kernel run. Throughput is output tokens over the makespan (first submission → last completion).</summary>
public sealed record RunResult(
    string Policy, string Kernel, int Submitted, int Completed, int Failed, int Unfinished, int DuplicateCompletions,
    long OutputTokens, double MakespanSeconds, double OutputTokensPerS, double? TtftP50Ms, double? TtftP95Ms, double? TtftP99Ms,
    IReadOnlyList<BucketLatency> Buckets, double? TargetUtil, IReadOnlyDictionary<int, int> Budgets,
    IReadOnlyList<WorkerAssignment> Placement, string? Problem, IReadOnlyList<AdapterPullRow> Pulls,
    IReadOnlyDictionary<string, int> JobAdapterSources)
{
    /// <summary>Every submitted job completed, none twice, none failed.</summary>
    public bool AllCompletedOnce => Completed == Submitted && Failed == 0 && Unfinished == 0 && DuplicateCompletions == 0;

    /// <param name="pulls">The run's adapter pulls (calibration, placement and replay), by source.</param>
    public static RunResult From(string policy, string kernel, DemoAssets assets, IReadOnlyList<SubmitJob> submitted, RunRecorder recorder,
                                 PlacementPlan plan, IReadOnlyDictionary<string, OperatingPointMeasurement> measured, string? problem,
                                 IReadOnlyList<AdapterPullRow> pulls)
    {
        var ids = submitted.Select(j => j.JobId).ToHashSet();
        // First completion of each job (duplicates are counted, not double-counted).
        var completed = recorder.Completed.Where(e => ids.Contains(e.JobId)).GroupBy(e => e.JobId).Select(g => g.First()).ToList();
        var failedIds = recorder.Failed.Select(e => e.JobId).Where(ids.Contains).ToHashSet();
        double makespan = completed.Count == 0 ? 0
            : (completed.Max(e => e.CompletedAt) - submitted.Min(j => j.SubmittedAt)).TotalSeconds;
        long tokens = completed.Sum(e => (long)e.OutputTokens);
        var rankOf = assets.Adapters.ToDictionary(a => a.Id, a => a.Rank, StringComparer.Ordinal);
        var bucketOf = submitted.ToDictionary(j => j.JobId, j => j.AdapterId is null ? (int?)null : RankBuckets.Default.BucketOf(rankOf[j.AdapterId]));
        int finished = completed.Select(e => e.JobId).Union(failedIds).Count();

        var buckets = RankBuckets.Default.Boundaries.Select(b =>
        {
            var done = completed.Where(e => e.RankBucket == b).ToList();
            var ttft = done.Select(Ttft).ToList();
            return new BucketLatency(b, bucketOf.Values.Count(v => v == b), done.Count,
                Percentiles.Of(ttft, 0.50), Percentiles.Of(ttft, 0.95), Percentiles.Of(ttft, 0.99));
        }).ToList();
        var all = completed.Select(Ttft).ToList();
        var placement = plan.Workers.Select(w => new WorkerAssignment(w.Id,
            [.. (w.ServesBase ? [RankBuckets.BaseQueueName] : Array.Empty<string>()).Concat(w.RankQueues.Select(q => RankBuckets.QueueName(q)))],
            w.Adapters, w.RankGroup ?? w.MaxRank, Math.Round(w.Load, 3),
            measured[w.Id].Points.ToDictionary(p => p.Key, p => Math.Round(p.Value, 1)),
            measured[w.Id].DecodeTps.ToDictionary(p => p.Key, p => Math.Round(p.Value, 1)),
            completed.Count(e => e.Worker == w.Id), completed.Where(e => e.Worker == w.Id).Sum(e => (long)e.OutputTokens))).ToList();
        return new RunResult(policy, kernel, submitted.Count, completed.Count, failedIds.Count,
            submitted.Count - finished, recorder.Duplicates,
            tokens, Math.Round(makespan, 2), makespan > 0 ? Math.Round(tokens / makespan, 1) : 0,
            Percentiles.Of(all, 0.50), Percentiles.Of(all, 0.95), Percentiles.Of(all, 0.99), buckets,
            plan.TargetUtil is { } t ? Math.Round(t, 3) : null, plan.Budgets, placement, problem, pulls,
            // Where each completed job's adapter was when it arrived: active (loaded), host cache, peer or store.
            completed.Where(e => e.AdapterLoad is not null).GroupBy(e => e.AdapterLoad!.Source).ToDictionary(g => g.Key, g => g.Count()));
    }

    private static double Ttft(JobCompleted e) => e.Timings.QueueMs + e.Timings.TtftMs;
}

/// <summary>What `loraqueue bench placement --json` prints.</summary>
public sealed record PlacementBenchReport(
    string Model, string Workload, int Workers, double Rate, double DurationSeconds, int Seed, int Jobs, int MaxSequences,
    string ThreadBudget, IReadOnlyList<RunResult> Runs, double WallSeconds, int Warnings, IReadOnlyList<string> WarningSamples)
{
    public bool AllCompletedOnce => Runs.All(r => r.AllCompletedOnce);
}
