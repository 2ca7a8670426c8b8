using LoRAQueue.Cli.Commands;
using LoRAQueue.Contracts;
using LoRAQueue.History;
using LoRAQueue.Workloads;

namespace LoRAQueue.Cli.Tests;

/// <summary>
/// The round trip history → `jobs export` CSV → trace, on the in-memory history (same paging semantics as Postgres;
/// the command itself against the real PostgreSQL is in <see cref="JobsCommandTests"/>).
/// </summary>
public sealed class JobsExportTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private sealed record Seeded(Guid Id, string? Adapter, int? Bucket, DateTimeOffset At, int Prompt, int Output, bool Finished);

    /// <summary>2,300 jobs (three pages): every fifth still queued (no token counts), the rest completed.</summary>
    private static async Task<(InMemoryJobHistory History, List<Seeded> Jobs)> SeedAsync()
    {
        var history = new InMemoryJobHistory();
        var t0 = new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);
        var jobs = new List<Seeded>();
        var ct = CancellationToken.None;
        for (int i = 0; i < 2300; i++)
        {
            var (adapter, bucket) = (i % 3) switch { 0 => ((string?)null, (int?)null), 1 => ("ad-8", 8), _ => ("ad-32", 32) };
            var job = new Seeded(Guid.NewGuid(), adapter, bucket, t0.AddTicks(i * 1_234_560L), 10 + i % 50, 1 + i % 7, i % 5 != 0);
            jobs.Add(job);
            await history.RecordQueuedAsync(new SubmitJob
            {
                JobId = job.Id, Tenant = i % 2 == 0 ? "acme" : "globex", AdapterId = adapter, Prompt = "p", MaxTokens = 8, SubmittedAt = job.At,
            }, bucket, ct);
            if (!job.Finished) continue;
            await history.RecordCompletedAsync(new JobCompleted
            {
                JobId = job.Id, Tenant = "acme", AdapterId = adapter, RankBucket = bucket, Worker = "w", OutputText = "o",
                PromptTokens = job.Prompt, OutputTokens = job.Output, FinishReason = "length",
                Timings = new JobTimings(1, 1, 1, 1, 1), SubmittedAt = job.At, CompletedAt = job.At.AddSeconds(1),
            }, ct);
        }
        return (history, jobs);
    }

    [Fact]
    public async Task Every_job_with_token_counts_comes_back_as_a_request_at_its_submission_time()
    {
        var (history, jobs) = await SeedAsync();
        var path = Path.Combine(_dir.Path, "history.csv");

        var result = await JobsExport.WriteFileAsync(history, new JobQuery(), path, CancellationToken.None);
        var trace = TraceReader.Read(path);

        var finished = jobs.Where(j => j.Finished).OrderBy(j => j.At).ToList();
        Assert.Equal(new JobsExport.Result(finished.Count, jobs.Count - finished.Count, 3), result);
        Assert.Equal(TraceFormat.JobHistory, trace.Format);
        Assert.Equal(finished.Select(j => j.At - finished[0].At), trace.Requests.Select(r => r.Arrival));
        Assert.Equal(finished.Select(j => (j.Adapter, j.Bucket, j.Prompt, j.Output)),
                     trace.Requests.Select(r => (r.AdapterId, r.Rank, r.InputTokens, r.OutputTokens)));
        Assert.Equal([new WorkloadAdapter("ad-32", 32), new WorkloadAdapter("ad-8", 8)], trace.Adapters);
        Assert.StartsWith(JobHistoryCsv.Header + "\n", File.ReadAllText(path));
    }

    [Fact]
    public async Task The_filters_of_jobs_list_narrow_the_export()
    {
        var (history, jobs) = await SeedAsync();
        var since = jobs[1000].At;

        using var text = new StringWriter();
        var result = await JobsExport.WriteAsync(history, new JobQuery(AdapterId: "ad-8", Since: since), text, CancellationToken.None);

        var expected = jobs.Where(j => j.Finished && j.Adapter == "ad-8" && j.At >= since).ToList();
        Assert.Equal(expected.Count, result.Written);
        var trace = TraceReader.Read(_dir.File("ad8.csv", text.ToString()));
        Assert.All(trace.Requests, r => Assert.Equal(("ad-8", (int?)8), (r.AdapterId, r.Rank)));
        Assert.Equal(expected.Count, trace.Requests.Count);
    }

    [Fact]
    public async Task An_export_replays_through_workload_generate_as_loraserve_csv()
    {
        var (history, _) = await SeedAsync();
        var path = Path.Combine(_dir.Path, "history.csv");
        await JobsExport.WriteFileAsync(history, new JobQuery(), path, CancellationToken.None);
        var lora = Path.Combine(_dir.Path, "history-lora.csv");

        // Base-model jobs get generated adapters; the history's own adapters keep theirs (ids gain their rank).
        var result = await CliRun.InvokeAsync("workload", "generate", "--kind", "trace", "--from-trace", path, "--adapters", "4", "--out", lora);

        Assert.True(result.ExitCode == 0, result.ToString());
        var replay = TraceReader.Read(lora);
        var original = TraceReader.Read(path);
        Assert.Equal(original.Requests.Select(r => r.Arrival), replay.Requests.Select(r => r.Arrival));
        Assert.Contains(replay.Adapters, a => a == new WorkloadAdapter("ad-8-rank-8", 8));
        Assert.Contains(replay.Adapters, a => a == new WorkloadAdapter("ad-32-rank-32", 32));
        Assert.All(replay.Requests, r => Assert.NotNull(r.Rank));
    }
}
