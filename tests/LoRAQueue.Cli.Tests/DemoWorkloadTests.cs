using LoRAQueue.Cli.Demo;
using LoRAQueue.InProcess;
using LoRAQueue.Workloads;

namespace LoRAQueue.Cli.Tests;

/// <summary>The generated workload has the shape it claims: bursty arrivals, Zipf-like popularity, ~10% base model.</summary>
public sealed class DemoWorkloadTests
{
    private static readonly IReadOnlyList<DemoAdapter> Adapters =
        DemoAssets.Ranks.SelectMany(r => Enumerable.Range(1, 3).Select(i => new DemoAdapter($"r{r}-{i}", r))).ToList();

    [Fact]
    public void The_same_seed_gives_the_same_jobs_and_another_seed_other_jobs()
    {
        var a = DemoWorkload.Generate(200, seed: 5, Adapters, speedup: 10);
        var b = DemoWorkload.Generate(200, seed: 5, Adapters, speedup: 10);
        var c = DemoWorkload.Generate(200, seed: 6, Adapters, speedup: 10);

        Assert.Equal(a.Jobs, b.Jobs);
        Assert.NotEqual(a.Jobs.Select(j => j.AdapterId), c.Jobs.Select(j => j.AdapterId));
    }

    [Fact]
    public void Arrivals_are_bursty_with_a_coefficient_of_variation_between_2_and_4()
    {
        var jobs = DemoWorkload.Generate(20_000, seed: 1, Adapters, speedup: 1).Jobs;
        var gaps = jobs.Zip(jobs.Skip(1), (x, y) => (y.At - x.At).TotalSeconds).ToList();
        double mean = gaps.Average();
        double cv = Math.Sqrt(gaps.Sum(g => (g - mean) * (g - mean)) / gaps.Count) / mean;

        Assert.InRange(mean, 0.9, 1.1); // one job a second before the speedup
        Assert.InRange(cv, 2, 4);
    }

    [Fact]
    public void Popularity_is_zipf_like_and_a_tenth_of_jobs_use_the_base_model()
    {
        var jobs = DemoWorkload.Generate(20_000, seed: 1, Adapters, speedup: 1).Jobs;
        var counts = jobs.Where(j => j.AdapterId is not null).GroupBy(j => j.AdapterId!).Select(g => g.Count()).OrderDescending().ToList();
        double baseShare = jobs.Count(j => j.AdapterId is null) / (double)jobs.Count;

        Assert.InRange(baseShare, 0.08, 0.12);
        Assert.Equal(Adapters.Count, counts.Count);
        // Zipf 1.1: the top adapter gets 2^1.1 ≈ 2.14× the second and (15/1)^1.1 ≈ 20× the last.
        Assert.InRange(counts[0] / (double)counts[1], 1.8, 2.5);
        Assert.InRange(counts[0] / (double)counts[^1], 12, 35);
    }

    [Fact]
    public void Without_a_speedup_the_replay_is_fitted_into_about_twenty_seconds_and_lengths_fit_the_small_model()
    {
        var workload = DemoWorkload.Generate(300, seed: 2, Adapters, speedup: null);

        Assert.Equal(DemoWorkload.DefaultReplayTime.TotalSeconds, workload.Duration.TotalSeconds, precision: 6);
        Assert.All(workload.Jobs, j => Assert.InRange(j.PromptTokens, 1, DemoWorkload.MaxPromptTokens));
        Assert.All(workload.Jobs, j => Assert.InRange(j.MaxTokens, 1, DemoWorkload.MaxOutputTokens));
    }

    [Fact]
    public void A_trace_keeps_its_arrivals_compressed_by_the_speedup_and_its_lengths_clamped()
    {
        var trace = new Workload("t.csv", [new(TimeSpan.Zero, 5000, 400), new(TimeSpan.FromSeconds(8), 12, 3), new(TimeSpan.FromSeconds(10), 0, 0)]);

        var workload = DemoWorkload.FromTrace(trace, seed: 1, Adapters, speedup: 4);

        Assert.Equal([0, 2, 2.5], workload.Jobs.Select(j => j.At.TotalSeconds));
        Assert.Equal([200, 12, 1], workload.Jobs.Select(j => j.PromptTokens));
        Assert.Equal([32, 3, 1], workload.Jobs.Select(j => j.MaxTokens));
    }

    [Fact]
    public void A_trace_with_adapters_keeps_its_rank_mix_on_the_demos_adapters_and_its_base_model_requests()
    {
        var trace = new Workload("t.csv",
        [
            new(TimeSpan.Zero, 10, 2, "a-rank-16", 16), new(TimeSpan.FromSeconds(1), 10, 2, "b-rank-16", 16),
            new(TimeSpan.FromSeconds(2), 10, 2, "c-rank-128", 128), new(TimeSpan.FromSeconds(3), 10, 2),
            new(TimeSpan.FromSeconds(4), 10, 2, "a-rank-16", 16), new(TimeSpan.FromSeconds(5), 10, 2, "d-rank-12", 12),
        ]);

        var workload = DemoWorkload.FromTrace(trace, seed: 1, Adapters, speedup: 1);

        // Two rank-16 adapters onto two of the demo's, in turn; 12 is nearest 16 (log scale) and takes the third.
        Assert.Equal(["r16-1", "r16-2", "r128-1", null, "r16-1", "r16-3"], workload.Jobs.Select(j => j.AdapterId));
        Assert.Contains("mapped by rank", workload.Description);
    }
}
