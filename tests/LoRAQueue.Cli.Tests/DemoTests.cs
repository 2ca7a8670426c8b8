using System.Text.Json;
using LoRAQueue.Cli.Demo;
using LoRAQueue.Core;
using LoRAQueue.History;

namespace LoRAQueue.Cli.Tests;

/// <summary>A demo cache (small model + 15 adapters) generated once for these tests.</summary>
public sealed class DemoCacheFixture : IDisposable
{
    private readonly TempDirectory _dir = new();

    public string Root => _dir.Path;

    public void Dispose() => _dir.Dispose();
}

/// <summary>`loraqueue demo` end to end in this process: publisher → rank queues → workers → events → recorder → history.</summary>
public sealed class DemoTests(DemoCacheFixture cache) : IClassFixture<DemoCacheFixture>
{
    private static readonly CancellationToken Ct = CancellationToken.None;

    [Fact]
    public async Task Every_job_completes_on_the_worker_serving_its_rank_band_and_is_in_the_history()
    {
        var options = new DemoOptions { Jobs = 40, Workers = 2, Seed = 3, Speedup = 10, CacheRoot = cache.Root };
        var bands = RankAssignment.Partition(RankBuckets.Default, options.Workers);

        var outcome = await DemoRunner.RunAsync(options, live: null, new Progress<string>(), Ct);

        var summary = outcome.Summary;
        Assert.True(summary.AllCompleted, $"{summary.Completed} of {summary.Jobs} completed; warnings: {string.Join(" | ", summary.WarningSamples)}");
        Assert.Equal(0, summary.Failed);
        var records = new List<JobRecord>();
        foreach (var job in outcome.Jobs) records.Add(Assert.IsType<JobRecord>(await outcome.History.GetAsync(job.JobId, Ct)));
        Assert.All(records, r =>
        {
            Assert.Equal(JobStatus.Completed, r.Status);
            Assert.True(r.OutputTokens > 0 && r.PromptTokens > 0, $"job {r.JobId} has no tokens");
            Assert.NotNull(r.TtftMs);
            // Rank-partitioned: the job ran on the one worker whose band holds its bucket.
            int worker = bands.Select((band, i) => (band, i)).Single(b => b.band.Contains(r.RankBucket)).i;
            Assert.Equal($"worker-{worker + 1}", r.Worker);
        });
        // This seed's 40 jobs reach every queue, so every rank bucket has history rows.
        Assert.Equal(RankAssignment.Queues(RankBuckets.Default), records.Select(r => r.RankBucket).Distinct().Order());
        // Demo adapter "r32-2" has rank 32, whose bucket is 32.
        Assert.All(records.Where(r => r.AdapterId is not null), r => Assert.Equal(RankOf(r.AdapterId!), r.RankBucket));
        Assert.Equal(40, summary.Buckets.Sum(b => b.Jobs));
        Assert.Equal(40, summary.WorkerStats.Sum(w => w.Completed));
        Assert.All(summary.Buckets, b => Assert.NotNull(b.TtftP50Ms));
    }

    private static int RankOf(string adapterId) => int.Parse(adapterId[1..adapterId.IndexOf('-')]);

    [Fact]
    public async Task The_command_prints_a_json_summary_and_exits_0_when_every_job_completed()
    {
        var result = await CliRun.InvokeAsync("demo", "--jobs", "12", "--workers", "1", "--seed", "4", "--speedup", "20",
                                              "--kernel", "padded", "--cache", cache.Root, "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        var root = json.RootElement;
        Assert.Equal(12, root.GetProperty("jobs").GetInt32());
        Assert.Equal(12, root.GetProperty("completed").GetInt32());
        Assert.Equal("padded", root.GetProperty("kernel").GetString());
        var worker = Assert.Single(root.GetProperty("worker_stats").EnumerateArray());
        Assert.Equal("base,8,16,32,64,128", worker.GetProperty("queues").GetString());
        Assert.Equal(12, worker.GetProperty("completed").GetInt32());
        Assert.True(root.GetProperty("output_tokens").GetInt64() > 0);
    }

    [Fact]
    public async Task Without_a_terminal_progress_is_one_line_per_interval_not_a_line_per_change()
    {
        var options = new DemoOptions { Jobs = 30, Workers = 3, Seed = 5, Speedup = 4, CacheRoot = cache.Root,
                                        ProgressLineInterval = TimeSpan.FromMilliseconds(500) };
        var output = new StringWriter();
        var lines = new List<string>();

        var outcome = await DemoRunner.RunAsync(options, Commands.CliOutput.ConsoleFor(output), new SyncLines(lines), Ct);

        Assert.True(outcome.Summary.AllCompleted);
        var progress = lines.Where(l => l.Contains("submitted ", StringComparison.Ordinal)).ToList();
        // One per 0.5 s of replay plus the closing one; Spectre's fallback wrote a line per task change.
        Assert.InRange(progress.Count, 1, (int)(outcome.Summary.WallSeconds / 0.5) + 2);
        Assert.Contains("finished 30/30; worker-1 ", progress[^1]);
        Assert.Empty(output.ToString()); // nothing else went to the non-interactive console during the replay
    }

    private sealed class SyncLines(List<string> lines) : IProgress<string>
    {
        public void Report(string value) { lock (lines) lines.Add(value); }
    }

    [Theory]
    [InlineData("--workers", "7", "--workers must be 1 to 6")]
    [InlineData("--jobs", "0", "--jobs must be at least 1")]
    [InlineData("--speedup", "-2", "--speedup must be a positive number")]
    public async Task Bad_options_get_one_line_and_exit_1(string option, string value, string message)
    {
        var result = await CliRun.InvokeAsync("demo", option, value, "--cache", cache.Root);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"error: {message}", result.Error);
        Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
