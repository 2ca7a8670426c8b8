namespace LoRAQueue.Workloads.Tests;

/// <summary>The production-like generator on small ServeGen-shaped files the test writes (the real ones are optional).</summary>
public sealed class ProductionWorkloadTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public ProductionWorkloadTests()
    {
        _dir.File(ProductionWorkload.RatesFile, """
            model,client_id,window_start_s,rate,cv,arrival_pattern,pattern_shape,pattern_scale
            m-test,0,0,10,1,Gamma,1,0.1
            m-test,0,600,10,1,Gamma,1,0.1
            m-test,0,1200,10,1,Gamma,1,0.1
            m-test,1,0,5,3,Weibull,0.4,0.2
            m-test,1,600,5,3,Weibull,0.4,0.2
            m-test,1,1200,5,3,Weibull,0.4,0.2
            m-test,2,0,1,1,Gamma,1,1
            other,9,0,500,1,Gamma,1,1
            """);
        _dir.File(ProductionWorkload.LengthsFile, """
            model,client_id,window_start_s,input_mean,input_p50,input_p90,input_p99,output_mean,output_p50,output_p90,output_p99,reason_ratio_mean
            m-test,0,0,120,100,200,400,30,20,40,80,
            m-test,1,0,1000,1000,1000,1000,50,50,50,50,
            other,9,0,5,5,5,5,5,5,5,5,
            """);
    }

    public void Dispose() => _dir.Dispose();

    private Workload Generate(double? rate, int adapters, double start = 0, double seconds = 1800, int seed = 1, string model = "m-test") =>
        ProductionWorkload.Generate(new ProductionWorkloadOptions
        {
            DataDirectory = _dir.Path, Model = model, Rate = rate, Adapters = adapters, Start = TimeSpan.FromSeconds(start),
            Duration = TimeSpan.FromSeconds(seconds), Seed = seed, Ranks = RankMix.Parse("16,64"),
        });

    [Fact]
    public void The_busiest_clients_become_adapters_at_the_rate_asked_for_with_their_own_lengths()
    {
        var w = Generate(rate: 8, adapters: 2);
        var byClient = w.Requests.GroupBy(r => r.AdapterId!.Split("-rank-")[0]).ToDictionary(g => g.Key, g => g.ToList());

        Assert.InRange(w.Requests.Count / 1800.0, 8 * 0.93, 8 * 1.07);
        Assert.Equal(["client-0", "client-1"], byClient.Keys.Order());
        Assert.InRange(byClient["client-0"].Count / (double)w.Requests.Count, 0.62, 0.71); // 10 : 5
        Assert.Equal([16, 64], w.Adapters.Select(a => a.Rank!.Value).Order());
        Assert.All(w.Adapters, a => Assert.Equal($"-rank-{a.Rank}", a.Id[a.Id.IndexOf("-rank-", StringComparison.Ordinal)..]));
        // Client 1: p50 = p90 = p99 = 1000, so every prompt is close below 1000; client 0's stay within its p99.
        Assert.All(byClient["client-1"], r => Assert.InRange(r.InputTokens, 700, 1000));
        Assert.All(byClient["client-0"], r => Assert.InRange(r.InputTokens, 1, 400));
        Assert.InRange(byClient["client-0"].Select(r => r.InputTokens).Order().ElementAt(byClient["client-0"].Count / 2), 90, 110);
        Assert.Contains("rates scaled", w.Description);
    }

    [Fact]
    public void The_same_seed_gives_the_same_workload()
    {
        Assert.Equal(Generate(rate: 3, adapters: 3, seed: 4).Requests, Generate(rate: 3, adapters: 3, seed: 4).Requests);
        Assert.NotEqual(Generate(rate: 3, adapters: 3, seed: 4).Requests, Generate(rate: 3, adapters: 3, seed: 5).Requests);
    }

    [Fact]
    public void Without_a_rate_the_datas_own_rates_are_kept_and_only_active_clients_count()
    {
        var w = Generate(rate: null, adapters: 10, start: 600, seconds: 1200);

        Assert.InRange(w.Requests.Count / 1200.0, 15 * 0.9, 15 * 1.1);
        Assert.Equal(2, w.Adapters.Count); // client 2 is active only in the first window
        Assert.Contains("the data's own rates", w.Description);
    }

    [Fact]
    public void A_client_without_length_data_is_drawn_like_the_models_median_client()
    {
        var w = Generate(rate: 20, adapters: 3, seconds: 600);

        Assert.Equal(3, w.Adapters.Count);
        Assert.Contains("1 clients without length data", w.Description);
        Assert.All(w.Requests.Where(r => r.AdapterId!.StartsWith("client-2-", StringComparison.Ordinal)), r => Assert.InRange(r.InputTokens, 1, 1000));
    }

    [Fact]
    public void An_unknown_model_or_a_broken_row_is_named()
    {
        var e = Assert.Throws<ArgumentException>(() => Generate(rate: 1, adapters: 1, model: "m-none"));
        Assert.Contains("no model 'm-none' (it has m-test, other)", e.Message);

        File.AppendAllText(Path.Combine(_dir.Path, ProductionWorkload.RatesFile), "\nm-test,3,0,fast,1,Gamma,1,1\n");
        var broken = Assert.Throws<TraceFormatException>(() => Generate(rate: 1, adapters: 1));
        Assert.Equal($"{ProductionWorkload.RatesFile}:10: rate 'fast' is not a number ≥ 0", broken.Message);
    }

    [SharedDataFact(ProductionWorkload.RatesFile, ProductionWorkload.LengthsFile)]
    public void The_real_ServeGen_data_gives_a_workload_near_the_rate_asked_for()
    {
        var w = ProductionWorkload.Generate(new ProductionWorkloadOptions
        {
            DataDirectory = SharedData.Directory, Duration = TimeSpan.FromSeconds(3600), Rate = 5, Adapters = 20, Seed = 1,
        });

        Assert.InRange(w.Requests.Count / 3600.0, 5 * 0.7, 5 * 1.3); // bursty clients: a wide band
        Assert.InRange(w.Adapters.Count, 2, 20);
        Assert.All(w.Adapters, a => Assert.Contains(a.Rank!.Value, new[] { 8, 16, 32, 64, 128 }));
    }
}
