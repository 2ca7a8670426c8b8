namespace LoRAQueue.Workloads.Tests;

/// <summary>The generators are deterministic for a seed and statistically what they claim.</summary>
public sealed class GeneratorTests
{
    private static Workload Synthetic(int seed, ArrivalKind kind = ArrivalKind.Poisson, double rate = 20, double seconds = 600, double cv = 1,
                                      int adapters = 50, double alpha = 1, string ranks = "8,16,32,64,128") =>
        WorkloadGenerator.Generate(new SyntheticWorkloadOptions
        {
            Kind = kind, Rate = rate, Duration = TimeSpan.FromSeconds(seconds), Cv = cv, Adapters = adapters, Alpha = alpha,
            Ranks = RankMix.Parse(ranks), Seed = seed,
        });

    private static double Cv(IReadOnlyList<TimeSpan> arrivals)
    {
        var gaps = arrivals.Zip(arrivals.Skip(1), (a, b) => (b - a).TotalSeconds).ToList();
        double mean = gaps.Average();
        return Math.Sqrt(gaps.Sum(g => (g - mean) * (g - mean)) / gaps.Count) / mean;
    }

    [Fact]
    public void The_same_seed_gives_the_same_workload_and_another_seed_another()
    {
        var a = Synthetic(seed: 5, ArrivalKind.Gamma, cv: 3);
        var b = Synthetic(seed: 5, ArrivalKind.Gamma, cv: 3);
        var c = Synthetic(seed: 6, ArrivalKind.Gamma, cv: 3);

        Assert.Equal(a.Requests, b.Requests);
        Assert.Equal(a.Description, b.Description);
        Assert.NotEqual(a.Requests.Select(r => r.Arrival), c.Requests.Select(r => r.Arrival));
        Assert.NotEqual(a.Requests.Select(r => r.AdapterId), c.Requests.Select(r => r.AdapterId));
    }

    [Fact]
    public void Each_aspect_has_its_own_stream_so_a_new_rank_mix_leaves_the_arrivals_alone()
    {
        var a = Synthetic(seed: 3, ranks: "8,16");
        var b = Synthetic(seed: 3, ranks: "32:0.9,64:0.1", alpha: 2);

        Assert.Equal(a.Requests.Select(r => r.Arrival), b.Requests.Select(r => r.Arrival));
        Assert.NotEqual(a.Requests.Select(r => r.Rank), b.Requests.Select(r => r.Rank));
    }

    [Fact]
    public void Poisson_arrivals_keep_the_rate_within_two_percent_with_a_cv_of_one()
    {
        var arrivals = Arrivals.Poisson(rate: 50, TimeSpan.FromSeconds(2000), new Random(11)); // ~100,000 arrivals

        Assert.InRange(arrivals.Count / 2000.0, 49, 51);
        Assert.InRange(Cv(arrivals), 0.97, 1.03);
        Assert.Equal(TimeSpan.Zero, arrivals[0]);
        Assert.True(arrivals[^1] < TimeSpan.FromSeconds(2000));
        Assert.Equal(arrivals.Order(), arrivals);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(2)]
    [InlineData(4)]
    public void Gamma_arrivals_have_the_rate_and_coefficient_of_variation_asked_for(double cv)
    {
        var arrivals = Arrivals.Gamma(rate: 50, cv, TimeSpan.FromSeconds(4000), new Random(17)); // ~200,000 arrivals

        Assert.InRange(arrivals.Count / 4000.0, 50 * 0.95, 50 * 1.05);
        Assert.InRange(Cv(arrivals), cv * 0.93, cv * 1.07);
    }

    [Fact]
    public void Zipf_popularity_gives_the_top_adapter_its_share()
    {
        // 100 adapters, exponent 1: the top one has 1 / H(100) = 19.3 % of requests, the second half that.
        var w = Synthetic(seed: 2, rate: 100, seconds: 400, adapters: 100, alpha: 1);
        var counts = w.Requests.GroupBy(r => r.AdapterId).Select(g => g.Count()).OrderDescending().ToList();
        double harmonic = Enumerable.Range(1, 100).Sum(i => 1.0 / i);

        Assert.InRange(counts[0] / (double)w.Requests.Count, 1 / harmonic - 0.01, 1 / harmonic + 0.01);
        Assert.InRange(counts[0] / (double)counts[1], 1.8, 2.2);
        Assert.Equal(w.Requests.Count, w.Requests.Count(r => r.AdapterId is not null && r.Rank is not null));
        // The most popular is adapter 0 by construction: its name carries its position and its rank.
        var top = w.Requests.GroupBy(r => r.AdapterId!).OrderByDescending(g => g.Count()).First().Key;
        Assert.Matches(@"^lora-rank-(8|16|32|64|128)-0$", top);
    }

    [Fact]
    public void Alpha_zero_is_uniform_popularity()
    {
        var w = Synthetic(seed: 4, rate: 100, seconds: 200, adapters: 10, alpha: 0);
        var shares = w.Requests.GroupBy(r => r.AdapterId).Select(g => g.Count() / (double)w.Requests.Count).ToList();

        Assert.Equal(10, shares.Count);
        Assert.All(shares, s => Assert.InRange(s, 0.09, 0.11));
    }

    [Fact]
    public void A_rank_mix_gives_the_adapters_its_shares_exactly_and_in_a_seeded_order()
    {
        var mix = RankMix.Parse("8:0.4, 16:0.3,32:0.2,128:0.1");
        var ranks = mix.Assign(50, new Random(1));

        Assert.Equal(20, ranks.Count(r => r == 8));
        Assert.Equal(15, ranks.Count(r => r == 16));
        Assert.Equal(10, ranks.Count(r => r == 32));
        Assert.Equal(5, ranks.Count(r => r == 128));
        Assert.Equal(ranks, mix.Assign(50, new Random(1)));
        Assert.NotEqual(ranks, ranks.Order()); // shuffled: popularity (the index) is independent of rank
        Assert.Equal("8:0.4,16:0.3,32:0.2,128:0.1", mix.ToString());
        // Largest remainders: 7 adapters at 0.4/0.3/0.2/0.1 → 2.8, 2.1, 1.4, 0.7 → 3, 2, 1, 1.
        Assert.Equal([3, 2, 1, 1], new[] { 8, 16, 32, 128 }.Select(r => mix.Assign(7, new Random(1)).Count(x => x == r)));
        Assert.Equal([8, 16, 32, 64, 128], RankMix.Default.Entries.Select(e => e.Rank));
        Assert.All(RankMix.Parse("8,16").Entries, e => Assert.Equal(0.5, e.Weight));
    }

    [Theory]
    [InlineData("8:0.4,x:0.6", "'x:0.6' in the rank mix")]
    [InlineData("8:-1", "the weight of rank 8")]
    [InlineData("0", "'0' in the rank mix")]
    [InlineData("8,8", "a rank is named twice")]
    [InlineData("8:0.5:1", "is not RANK or RANK:WEIGHT")]
    public void A_bad_rank_mix_says_what_is_wrong(string text, string reason)
    {
        var e = Assert.Throws<FormatException>(() => RankMix.Parse(text));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Empirical_lengths_are_pairs_of_the_trace()
    {
        var trace = new Workload("t", [new(TimeSpan.Zero, 100, 1), new(TimeSpan.FromSeconds(1), 200, 2), new(TimeSpan.FromSeconds(2), 300, 3)]);
        var model = LengthModel.Empirical(trace);
        var rng = new Random(1);
        var draws = Enumerable.Range(0, 3000).Select(_ => model.Draw(rng)).ToList();

        Assert.All(draws, d => Assert.Equal(d.Input, d.Output * 100));
        Assert.All(draws.GroupBy(d => d.Input), g => Assert.InRange(g.Count(), 900, 1100));
        Assert.Equal((512, 128), LengthModel.Fixed(512, 128).Draw(rng));
    }

    [Fact]
    public void A_trace_without_adapters_gets_them_assigned_and_keeps_its_arrivals_and_lengths()
    {
        var trace = new Workload("trace x", Enumerable.Range(0, 5000).Select(i => new WorkloadRequest(TimeSpan.FromMilliseconds(i * 10), i % 97, i % 13)));

        var a = AdapterAssignment.AssignTo(trace, adapters: 20, alpha: 1.2, RankMix.Parse("16,64"), seed: 9);
        var b = AdapterAssignment.AssignTo(trace, adapters: 20, alpha: 1.2, RankMix.Parse("16,64"), seed: 9);

        Assert.Equal(a.Requests, b.Requests);
        Assert.Equal(trace.Requests.Select(r => (r.Arrival, r.InputTokens, r.OutputTokens)), a.Requests.Select(r => (r.Arrival, r.InputTokens, r.OutputTokens)));
        Assert.All(a.Requests, r => Assert.Contains(r.Rank!.Value, new[] { 16, 64 }));
        Assert.All(a.Requests, r => Assert.EndsWith($"-rank-{r.Rank}-" + r.AdapterId!.Split('-')[^1], r.AdapterId));
        Assert.Equal(20, a.Adapters.Count);
        Assert.Equal(10, a.Adapters.Count(x => x.Rank == 16));
        Assert.StartsWith("trace x; adapters: Zipf 1.2 over 20 adapters, ranks 16:0.5,64:0.5, seed 9", a.Description);
    }

    [Fact]
    public void A_traces_own_adapters_map_onto_a_pool_by_nearest_rank_in_turn()
    {
        WorkloadAdapter[] pool = [new("p8-1", 8), new("p8-2", 8), new("p32-1", 32), new("p128-1", 128)];
        WorkloadRequest[] requests =
        [
            new(TimeSpan.Zero, 1, 1, "x", 8), new(TimeSpan.Zero, 1, 1, "y", 8), new(TimeSpan.Zero, 1, 1, "z", 8),
            new(TimeSpan.Zero, 1, 1, "x", 8), new(TimeSpan.Zero, 1, 1, "big", 256), new(TimeSpan.Zero, 1, 1, "mid", 16),
            new(TimeSpan.Zero, 1, 1), new(TimeSpan.Zero, 1, 1, "unranked", null),
        ];

        var mapped = AdapterAssignment.MapOnto(requests, pool);

        // 16 is as far from 8 as from 32 on a log scale: the larger wins.
        Assert.Equal(["p8-1", "p8-2", "p8-1", "p8-1", "p128-1", "p32-1", null, "p8-1"], mapped.Select(r => r.AdapterId));
        Assert.Equal([8, 8, 8, 8, 128, 32, null, 8], mapped.Select(r => r.Rank));
    }
}
