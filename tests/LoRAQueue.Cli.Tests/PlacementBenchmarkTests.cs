using System.Text.Json;
using LoRAQueue.Formats;

namespace LoRAQueue.Cli.Tests;

/// <summary>A tiny model (generated once) and a cache for the placement benchmark's adapters.</summary>
public sealed class TinyBenchFixture : IDisposable
{
    private readonly TempDirectory _dir = new();

    public TinyBenchFixture()
    {
        ModelPath = Path.Combine(_dir.Path, "tiny-model");
        SyntheticModel.Create("tiny", ModelPath, seed: 5);
    }

    public string ModelPath { get; }
    public string CacheRoot => _dir.Path;

    public void Dispose() => _dir.Dispose();
}

/// <summary>`loraqueue bench placement` on the tiny model, very short: what must hold whatever the timings.</summary>
public sealed class PlacementBenchmarkTests(TinyBenchFixture tiny) : IClassFixture<TinyBenchFixture>
{
    private static readonly string[] RankQueues = ["lora-rank-8", "lora-rank-16", "lora-rank-32", "lora-rank-64", "lora-rank-128"];

    [Fact]
    public async Task Four_runs_complete_every_job_once_with_rank_groups_for_loraserve_and_every_queue_for_replicate_all()
    {
        var result = await CliRun.InvokeAsync("bench", "placement", "--model", tiny.ModelPath, "--cache", tiny.CacheRoot,
                                              "--workers", "3", "--rate", "25", "--duration", "2", "--seed", "7", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        var root = json.RootElement;
        foreach (var field in new[] { "model", "workload", "thread_budget" }) Assert.False(string.IsNullOrEmpty(root.GetProperty(field).GetString()), field);
        Assert.Equal(3, root.GetProperty("workers").GetInt32());
        Assert.Equal(25, root.GetProperty("rate").GetDouble());
        Assert.Equal(2, root.GetProperty("duration_seconds").GetDouble());
        Assert.Equal(7, root.GetProperty("seed").GetInt32());
        Assert.True(root.GetProperty("all_completed_once").GetBoolean());
        int jobs = root.GetProperty("jobs").GetInt32();
        Assert.True(jobs > 10, $"a 2 s run at 25 jobs/s should have dozens of jobs, got {jobs}");

        var runs = root.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(["loraserve/padded", "replicate-all/padded", "loraserve/segmented", "replicate-all/segmented"],
                     runs.Select(r => $"{r.GetProperty("policy").GetString()}/{r.GetProperty("kernel").GetString()}"));
        foreach (var run in runs)
        {
            string name = $"{run.GetProperty("policy").GetString()}/{run.GetProperty("kernel").GetString()}";
            // Exactly once: every submitted job has one completion, none failed, none left, no second completion.
            Assert.Equal(jobs, run.GetProperty("submitted").GetInt32());
            Assert.Equal(jobs, run.GetProperty("completed").GetInt32());
            Assert.Equal(0, run.GetProperty("failed").GetInt32());
            Assert.Equal(0, run.GetProperty("unfinished").GetInt32());
            Assert.Equal(0, run.GetProperty("duplicate_completions").GetInt32());
            Assert.True(run.GetProperty("output_tokens").GetInt64() > 0, name);
            Assert.True(run.GetProperty("output_tokens_per_s").GetDouble() > 0, name);

            var buckets = run.GetProperty("buckets").EnumerateArray().ToList();
            Assert.Equal([8, 16, 32, 64, 128], buckets.Select(b => b.GetProperty("bucket").GetInt32()));
            Assert.Equal(jobs, buckets.Sum(b => b.GetProperty("jobs").GetInt32()));
            var demanded = buckets.Where(b => b.GetProperty("jobs").GetInt32() > 0).Select(b => $"lora-rank-{b.GetProperty("bucket").GetInt32()}").ToList();
            Assert.All(buckets.Where(b => b.GetProperty("jobs").GetInt32() > 0), b =>
            {
                Assert.Equal(b.GetProperty("jobs").GetInt32(), b.GetProperty("completed").GetInt32());
                Assert.True(b.GetProperty("ttft_p50_ms").GetDouble() <= b.GetProperty("ttft_p99_ms").GetDouble());
            });

            var placement = run.GetProperty("placement").EnumerateArray().ToList();
            Assert.Equal(["worker-1", "worker-2", "worker-3"], placement.Select(w => w.GetProperty("worker").GetString()));
            var queues = placement.Select(w => w.GetProperty("queues").EnumerateArray().Select(q => q.GetString()!).ToList()).ToList();
            Assert.Equal(jobs, placement.Sum(w => w.GetProperty("completed").GetInt32()));
            Assert.All(placement, w => Assert.True(w.GetProperty("operating_points").EnumerateObject().Any(), $"{name}: no operating points"));
            // Every bucket with demand has a consumer, in both policies.
            Assert.All(demanded, q => Assert.Contains(queues, list => list.Contains(q)));
            if (run.GetProperty("policy").GetString() == "replicate-all")
            {
                Assert.All(queues, list => Assert.Superset(RankQueues.ToHashSet(), list.ToHashSet()));
            }
            else
            {
                // Rank groups, not replicas: fewer (worker, queue-with-demand) pairs than every worker on every queue,
                // and every worker's group is a bucket with demand.
                int subscriptions = queues.Sum(list => list.Count(demanded.Contains));
                Assert.True(subscriptions < placement.Count * demanded.Count,
                    $"{name}: loraserve placed like replicate-all: {string.Join(" | ", queues.Select(l => string.Join(",", l)))}");
                Assert.All(placement, w => Assert.Contains($"lora-rank-{w.GetProperty("rank_group").GetInt32()}", demanded));
                Assert.True(run.GetProperty("target_util").GetDouble() > 0);
            }
        }
    }

    [Theory]
    [InlineData("--workers", "0", "--workers must be 1 to 8")]
    [InlineData("--rate", "-3", "--rate must be a positive number")]
    [InlineData("--duration", "0", "--duration must be a positive number")]
    public async Task Bad_options_get_one_line_and_exit_1(string option, string value, string message)
    {
        var result = await CliRun.InvokeAsync("bench", "placement", option, value, "--cache", tiny.CacheRoot);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains(message, result.Error);
        Assert.Equal("", result.Output);
    }

    [Fact]
    public async Task A_directory_that_is_not_a_model_is_refused_with_its_name()
    {
        var missing = Path.Combine(tiny.CacheRoot, "no-such-model");
        var result = await CliRun.InvokeAsync("bench", "placement", "--model", missing, "--cache", tiny.CacheRoot, "--duration", "1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("is not a model directory", result.Error);
    }
}
