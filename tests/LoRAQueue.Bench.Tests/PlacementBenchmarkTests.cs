using System.Text.Json;
using LoRAQueue.Formats;

namespace LoRAQueue.Bench.Tests;

/// <summary>A tiny model (generated once) and a cache for the placement benchmark's adapters.</summary>
public sealed class TinyBenchFixture : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loraqueue-bench-placement-").FullName;

    public TinyBenchFixture()
    {
        ModelPath = Path.Combine(_dir, "tiny-model");
        SyntheticModel.Create("tiny", ModelPath, seed: 5);
    }

    public string ModelPath { get; }
    public string CacheRoot => _dir;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}

/// <summary>The placement benchmark (`loraqueue bench placement`) on the tiny model, very short: what must hold whatever the
/// timings. The report is read as the command prints it with --json (snake_case).</summary>
public sealed class PlacementBenchmarkTests(TinyBenchFixture tiny) : IClassFixture<TinyBenchFixture>
{
    private static readonly JsonSerializerOptions SnakeCase = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };
    private static readonly string[] RankQueues = ["lora-rank-8", "lora-rank-16", "lora-rank-32", "lora-rank-64", "lora-rank-128"];

    [Fact]
    public async Task Four_runs_complete_every_job_once_with_rank_groups_for_loraserve_and_every_queue_for_replicate_all()
    {
        var options = new PlacementBenchOptions
        {
            ModelPath = tiny.ModelPath, CacheRoot = tiny.CacheRoot, Workers = 3, Rate = 25, Duration = TimeSpan.FromSeconds(2), Seed = 7,
        };
        var report = await PlacementBenchmark.RunAsync(options, new Progress<string>(), CancellationToken.None);

        Assert.True(report.AllCompletedOnce, string.Join(" | ", report.WarningSamples));
        var root = JsonSerializer.SerializeToElement(report, SnakeCase);
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
}
