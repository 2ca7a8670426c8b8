using LoRAQueue.History;
using LoRAQueue.InProcess;

namespace LoRAQueue.Cli.Demo;

/// <summary>One rank bucket's jobs. TTFT is measured from submission (rank-queue wait included) to the first token.</summary>
internal sealed record BucketSummary(string Bucket, int Jobs, int Completed, int Failed, double? TtftP50Ms, double? TtftP99Ms,
                                     double? TpotP50Ms, long OutputTokens, double OutputTokensPerS);

internal sealed record WorkerSummary(string Worker, string Queues, int Jobs, int Completed, int Failed, long OutputTokens,
                                     double OutputTokensPerS, int ResidentAdapters);

/// <summary>What `loraqueue demo --json` prints. Throughputs divide by the makespan (first submission → last completion).</summary>
internal sealed record DemoSummary(
    string Workload, int Jobs, int Completed, int Failed, int Unfinished, int Workers, string Kernel, double Speedup,
    double ReplaySeconds, double MakespanSeconds, double WallSeconds, long OutputTokens, double OutputTokensPerS,
    IReadOnlyList<BucketSummary> Buckets, IReadOnlyList<WorkerSummary> WorkerStats, int Warnings, IReadOnlyList<string> WarningSamples)
{
    public bool AllCompleted => Completed == Jobs;

    /// <summary>Summarises the jobs' history rows. <paramref name="records"/> holds one row per submitted job.</summary>
    public static DemoSummary From(string workload, int jobs, IReadOnlyList<JobRecord> records, IReadOnlyList<FleetWorker> workers,
                                   string kernel, double speedup, TimeSpan replay, TimeSpan wall, CapturedLog log)
    {
        var completed = records.Where(r => r.Status == JobStatus.Completed).ToList();
        double makespan = completed.Count == 0 || records.Count == 0 ? 0
            : (completed.Max(r => r.CompletedAt!.Value) - records.Min(r => r.SubmittedAt)).TotalSeconds;
        double PerSecond(long tokens) => makespan > 0 ? Math.Round(tokens / makespan, 1) : 0;

        var buckets = records.GroupBy(r => r.RankBucket).OrderBy(g => g.Key ?? 0).Select(g =>
        {
            var done = g.Where(r => r.Status == JobStatus.Completed).ToList();
            var ttft = done.Select(r => (r.QueueMs ?? 0) + (r.TtftMs ?? 0)).ToList();
            // TPOT is undefined for a job that produced a single token.
            var tpot = done.Where(r => r.OutputTokens >= 2 && r.TpotMs is not null).Select(r => r.TpotMs!.Value).ToList();
            long tokens = done.Sum(r => (long)(r.OutputTokens ?? 0));
            return new BucketSummary(g.Key?.ToString() ?? "base", g.Count(), done.Count, g.Count(r => r.Status == JobStatus.Failed),
                Percentiles.Of(ttft, 0.50), Percentiles.Of(ttft, 0.99), Percentiles.Of(tpot, 0.50), tokens, PerSecond(tokens));
        }).ToList();

        var workerRows = workers.Select(w =>
        {
            var mine = records.Where(r => r.Worker == w.Id).ToList();
            long tokens = mine.Where(r => r.Status == JobStatus.Completed).Sum(r => (long)(r.OutputTokens ?? 0));
            return new WorkerSummary(w.Id, w.QueueList, mine.Count, mine.Count(r => r.Status == JobStatus.Completed),
                mine.Count(r => r.Status == JobStatus.Failed), tokens, PerSecond(tokens), w.Node.Adapters.Resident.Count);
        }).ToList();

        long outputTokens = completed.Sum(r => (long)(r.OutputTokens ?? 0));
        return new DemoSummary(workload, jobs, completed.Count, records.Count(r => r.Status == JobStatus.Failed),
            jobs - records.Count(r => JobStatuses.IsTerminal(r.Status)), workers.Count, kernel, Math.Round(speedup, 2),
            Math.Round(replay.TotalSeconds, 2), Math.Round(makespan, 2), Math.Round(wall.TotalSeconds, 2), outputTokens,
            PerSecond(outputTokens), buckets, workerRows, log.Count, log.Lines.Take(10).ToList());
    }
}
