using LoRAQueue.Formats;
using LoRAQueue.InProcess;
using LoRAQueue.Workloads;

namespace LoRAQueue.Bench.Tests;

/// <summary>`bench placement --trace`: the workload a trace of any format gives (the run itself is the same as with
/// generated arrivals, see <see cref="PlacementBenchmarkTests"/>).</summary>
public sealed class BenchWorkloadTests(TinyBenchFixture tiny) : IClassFixture<TinyBenchFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loraqueue-bench-workload-").FullName;

    private static readonly IReadOnlyList<DemoAdapter> Adapters =
        DemoAssets.Ranks.SelectMany(r => Enumerable.Range(1, 3).Select(i => new DemoAdapter($"r{r}-{i}", r))).ToList();

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string File(string name, string contents)
    {
        var path = Path.Combine(_dir, name);
        System.IO.File.WriteAllText(path, contents);
        return path;
    }

    private BenchWorkload FromTrace(string path, double seconds, int seed = 1) =>
        BenchWorkload.Generate(new PlacementBenchOptions { CacheRoot = _dir, TracePath = path, Duration = TimeSpan.FromSeconds(seconds), Seed = seed },
                               TraceReader.Read(path), Adapters, ModelTokenizer.Load(tiny.ModelPath));

    [Fact]
    public void A_loraserve_trace_keeps_its_arrivals_within_the_duration_and_its_ranks()
    {
        var path = File("slora.csv", """
            req_id,model_dir,adapter_dir,prompt_len,output_len,req_time
            0,m,adapters/x-rank-16-0,1000,500,0
            1,m,adapters/y-rank-64-1,20,10,0.5
            2,m,adapters/z-rank-16-2,0,0,1.0
            3,m,adapters/x-rank-16-0,30,5,1.5
            4,m,adapters/y-rank-64-1,30,5,2.5
            """);

        var workload = FromTrace(path, seconds: 2);

        Assert.Equal([0, 0.5, 1.0, 1.5], workload.Jobs.Select(j => j.At.TotalSeconds));
        Assert.Equal(["r16-1", "r64-1", "r16-2", "r16-1"], workload.Jobs.Select(j => j.AdapterId));
        Assert.Equal([BenchWorkload.MaxPromptTokens, 20, 1, 30], workload.Jobs.Select(j => j.PromptTokens));
        Assert.Equal([BenchWorkload.MaxOutputTokens, 10, 1, 5], workload.Jobs.Select(j => j.MaxTokens));
        Assert.Equal(2, workload.Rate);
        Assert.Equal(workload.Jobs.Select(j => j.AdapterId), workload.Templates.Select(t => t.AdapterId));
        Assert.StartsWith("trace slora.csv (LoRAServe CSV, 5 requests): the 4 arriving in the first 2 s (2 jobs/s), its adapters mapped by rank", workload.Description);
    }

    [Fact]
    public void A_trace_without_adapters_gets_zipf_drawn_ones_as_generated_workloads_do()
    {
        var rows = string.Join("\n", Enumerable.Range(0, 400).Select(i => $$"""{"timestamp": {{i * 25}}, "input_length": {{i % 300}}, "output_length": 7}"""));
        var path = File("mooncake.jsonl", rows);

        var a = FromTrace(path, seconds: 60, seed: 3);
        var b = FromTrace(path, seconds: 60, seed: 3);

        Assert.Equal(400, a.Jobs.Count);
        Assert.Equal(a.Jobs, b.Jobs);
        Assert.All(a.Jobs, j => Assert.Contains(j.AdapterId, Adapters.Select(x => x.Id)));
        var counts = a.Jobs.GroupBy(j => j.AdapterId).Select(g => g.Count()).OrderDescending().ToList();
        Assert.True(counts[0] > 3 * counts[^1], "Zipf 1.1 over 15 adapters: the top one far above the last");
        Assert.Contains("Zipf 1.1 popularity over 15 adapters", a.Description);
    }

    [Fact]
    public void Base_model_jobs_of_a_history_export_get_drawn_adapters_since_the_bench_has_no_base_model_jobs()
    {
        var path = File("jobs.csv", """
            job_id,tenant,adapter_id,rank_bucket,status,submitted_at,prompt_tokens,output_tokens
            0e7c8a36-3f1f-4a55-9d3a-1f6d0c2b9a01,acme,ad-32,32,completed,2025-06-01T12:00:01Z,10,20
            7d1b2c44-9a0e-4c2b-8f55-2a7e5d3c1b02,acme,,,completed,2025-06-01T12:00:00Z,5,6
            """);

        var workload = FromTrace(path, seconds: 10);

        Assert.Equal("r32-1", workload.Jobs[1].AdapterId);
        Assert.Contains(workload.Jobs[0].AdapterId, Adapters.Select(x => x.Id));
        Assert.Contains("base-model requests Zipf 1.1-drawn", workload.Description);
    }
}
