using LoRAQueue.Core.Placement;

namespace LoRAQueue.Scheduler.Tests;

public class DriftDetectorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly DriftDetector _detector = new(new DriftSettings
    {
        Window = TimeSpan.FromSeconds(60), MinInterval = TimeSpan.FromSeconds(10), ShareThreshold = 0.2, BacklogGrowth = 100,
    });

    private static LoadSignature Signature(Dictionary<int, double> demand, string[]? workers = null, Dictionary<string, long>? depths = null) =>
        new(demand, (workers ?? ["w1", "w2"]).ToHashSet(StringComparer.Ordinal), depths ?? new Dictionary<string, long>());

    private static readonly Dictionary<int, double> Rank8Heavy = new() { [8] = 90, [128] = 10 };

    [Fact]
    public void First_check_places()
    {
        var d = _detector.Evaluate(null, default, Signature(Rank8Heavy), T0);
        Assert.Equal(DriftReason.Initial, d.Reason);
        Assert.True(d.Place);
    }

    [Fact]
    public void Unchanged_load_waits_for_the_window()
    {
        var s = Signature(Rank8Heavy);
        Assert.False(_detector.Evaluate(s, T0, s, T0.AddSeconds(59)).Place);
        Assert.Equal(DriftReason.Window, _detector.Evaluate(s, T0, s, T0.AddSeconds(60)).Reason);
    }

    [Fact]
    public void Demand_shift_beyond_threshold_places_early()
    {
        var shifted = Signature(new() { [8] = 10, [128] = 90 });
        var d = _detector.Evaluate(Signature(Rank8Heavy), T0, shifted, T0.AddSeconds(15));
        Assert.Equal(DriftReason.DemandShift, d.Reason);
    }

    [Fact]
    public void Total_volume_change_with_the_same_shares_is_not_drift()
    {
        var doubled = Signature(new() { [8] = 180, [128] = 20 });
        Assert.False(_detector.Evaluate(Signature(Rank8Heavy), T0, doubled, T0.AddSeconds(30)).Place);
    }

    [Fact]
    public void Small_share_move_below_threshold_is_not_drift()
    {
        var slightly = Signature(new() { [8] = 80, [128] = 20 }); // TV 0.1
        Assert.False(_detector.Evaluate(Signature(Rank8Heavy), T0, slightly, T0.AddSeconds(30)).Place);
    }

    [Fact]
    public void Hysteresis_holds_any_drift_within_the_minimum_interval()
    {
        var placed = Signature(Rank8Heavy);
        var everything = Signature(new() { [128] = 100 }, ["w1", "w3"], new() { ["lora-rank-128"] = 10_000 });
        Assert.False(_detector.Evaluate(placed, T0, everything, T0.AddSeconds(9.9)).Place);
        Assert.True(_detector.Evaluate(placed, T0, everything, T0.AddSeconds(10)).Place);
    }

    [Theory]
    [InlineData("w1,w2,w3")] // joined
    [InlineData("w1")]       // died
    [InlineData("w1,w3")]    // replaced
    public void Worker_set_change_places_early(string now)
    {
        var d = _detector.Evaluate(Signature(Rank8Heavy), T0, Signature(Rank8Heavy, now.Split(',')), T0.AddSeconds(11));
        Assert.Equal(DriftReason.WorkerSetChanged, d.Reason);
    }

    [Fact]
    public void Growing_backlog_places_early_but_a_steady_one_does_not()
    {
        var placed = Signature(Rank8Heavy, depths: new() { ["lora-rank-8"] = 500 });
        var steady = Signature(Rank8Heavy, depths: new() { ["lora-rank-8"] = 550 });
        var growing = Signature(Rank8Heavy, depths: new() { ["lora-rank-8"] = 600 });
        var newQueue = Signature(Rank8Heavy, depths: new() { ["lora-rank-8"] = 500, ["lora-base"] = 150 });
        Assert.False(_detector.Evaluate(placed, T0, steady, T0.AddSeconds(20)).Place);
        Assert.Equal(DriftReason.BacklogGrowing, _detector.Evaluate(placed, T0, growing, T0.AddSeconds(20)).Reason);
        Assert.Equal(DriftReason.BacklogGrowing, _detector.Evaluate(placed, T0, newQueue, T0.AddSeconds(20)).Reason);
    }

    [Fact]
    public void Total_variation_is_half_the_L1_distance_of_shares()
    {
        Assert.Equal(0, DriftDetector.TotalVariation(new Dictionary<int, double>(), new Dictionary<int, double>()));
        Assert.Equal(1, DriftDetector.TotalVariation(new Dictionary<int, double>(), Rank8Heavy));
        Assert.Equal(1, DriftDetector.TotalVariation(new Dictionary<int, double> { [8] = 5 }, new Dictionary<int, double> { [16] = 7 }));
        Assert.Equal(0.8, DriftDetector.TotalVariation(Rank8Heavy, new Dictionary<int, double> { [8] = 1, [128] = 9 }), 12);
    }

    [Fact]
    public void Signature_groups_demand_by_rank_bucket_with_base_as_zero()
    {
        var snapshot = new LoadSnapshot
        {
            Workers = [new WorkerState { Id = "w1", MemoryBytes = 1, OperatingPoints = new Dictionary<int, double> { [8] = 100 } }],
            Adapters =
            [
                new AdapterDemand { Id = "a", Rank = 4, DemandTps = 10 },
                new AdapterDemand { Id = "b", Rank = 8, DemandTps = 5 },
                new AdapterDemand { Id = "c", Rank = 100, DemandTps = 7 },
                new AdapterDemand { Id = null, DemandTps = 3 },
            ],
        };
        var s = LoadSignature.From(snapshot, new Dictionary<string, long>());
        Assert.Equal(new Dictionary<int, double> { [0] = 3, [8] = 15, [128] = 7 }, s.DemandByBucket);
        Assert.Equal(["w1"], s.Workers);
    }
}
