using LoRAQueue.Core.Placement;

namespace LoRAQueue.Core.Tests.Placement;

/// <summary>Small placements worked out by hand.</summary>
public class LoraServeExampleTests
{
    // LoRAServe's A100-40GB table.
    private static readonly Dictionary<int, double> A100 = new() { [8] = 2400, [16] = 2100, [32] = 1900, [64] = 1700, [128] = 1600 };
    private readonly LoraServePolicy _policy = new();

    private static WorkerState Worker(string id, long memory = 10_000_000_000, Dictionary<int, double>? points = null) =>
        new() { Id = id, MemoryBytes = memory, OperatingPoints = points ?? A100 };

    private static AdapterDemand Adapter(string id, int rank, double tps, long size = 0) =>
        new() { Id = id, Rank = rank, DemandTps = tps, SizeBytes = size > 0 ? size : rank * 2_000_000L };

    [Fact]
    public void Rank_groups_get_workers_in_proportion_to_their_load_and_every_worker_the_same_load()
    {
        // rankUtil: 8 → 2400/2400 = 1, 32 → 3800/1900 = 2, 128 → 1600/1600 = 1; targetUtil = 4/4 = 1.
        var snapshot = new LoadSnapshot
        {
            Workers = [Worker("w1"), Worker("w2"), Worker("w3"), Worker("w4")],
            Adapters = [Adapter("a8", 8, 1500), Adapter("b8", 8, 900), Adapter("a32", 32, 2000), Adapter("b32", 32, 1800),
                        Adapter("a128", 128, 1000), Adapter("b128", 128, 600)],
        };
        var plan = _policy.Plan(snapshot, null);

        Assert.Equal(1.0, plan.TargetUtil!.Value, 9);
        Assert.Equal(new Dictionary<int, int> { [8] = 1, [32] = 2, [128] = 1 }, plan.Budgets);
        Assert.All(plan.Workers, w => Assert.Equal(1.0, w.Load, 6));
        // Rank-pure workers: the rank-8 worker never batches rank 128 (other queues it may read carry no demand).
        var rank8 = plan.Workers.Single(w => w.Adapters.Contains("a8"));
        Assert.Equal(8, rank8.MaxRank);
        Assert.Equal(["a8", "b8"], rank8.Adapters);
        Assert.Equal(["a128", "b128"], plan.Workers.Single(w => w.Adapters.Contains("a128")).Adapters);
        // 3800 tps of rank 32 over two workers of 1900: a32 (2000) straddles and is split 1900 : 100.
        var a32 = plan.Workers.Where(w => w.Adapters.Contains("a32")).Select(w => w.AdapterShares["a32"]).Order().ToList();
        Assert.Equal(2, a32.Count);
        Assert.Equal(0.05, a32[0], 6);
        Assert.Equal(0.95, a32[1], 6);
    }

    [Fact]
    public void A_rank_too_small_for_its_own_worker_is_consumed_by_a_worker_whose_rank_covers_it()
    {
        // rank 8: 240/2400 = 0.1 of a worker; rank 128: 3 workers' worth. Budgets {8: 0, 128: 3}.
        var snapshot = new LoadSnapshot
        {
            Workers = [Worker("w1"), Worker("w2"), Worker("w3")],
            Adapters = [Adapter("small8", 8, 240), Adapter("big128", 128, 4480)],
        };
        var plan = _policy.Plan(snapshot, null);

        Assert.Equal(0, plan.Budgets[8]);
        Assert.Equal(3, plan.Budgets[128]);
        var holder = Assert.Single(plan.Workers, w => w.Adapters.Contains("small8"));
        Assert.Contains(8, holder.RankQueues);
        Assert.Equal(128, holder.MaxRank);
    }

    [Fact]
    public void An_adapter_that_does_not_fit_its_groups_worker_goes_elsewhere()
    {
        // Two rank-8 workers' worth of demand, but w1 is too small for the big adapter.
        var snapshot = new LoadSnapshot
        {
            Workers = [Worker("w1", memory: 50_000_000), Worker("w2"), Worker("w3")],
            Adapters = [Adapter("huge8", 8, 2000, size: 400_000_000), Adapter("tiny8", 8, 2000, size: 10_000_000),
                        Adapter("c16", 16, 2100)],
        };
        var plan = _policy.Plan(snapshot, null);

        Assert.DoesNotContain("huge8", plan.Workers.Single(w => w.Id == "w1").Adapters);
        Assert.Contains(plan.Workers, w => w.Adapters.Contains("huge8"));
        Assert.All(plan.Workers, w => Assert.True(w.MemoryUsedBytes <= snapshot.Workers.Single(s => s.Id == w.Id).MemoryBytes));
        Assert.Empty(plan.Unplaced);
    }

    [Fact]
    public void An_adapter_no_worker_can_hold_is_reported_unplaced()
    {
        var snapshot = new LoadSnapshot
        {
            Workers = [Worker("w1", memory: 1000)],
            Adapters = [Adapter("fits", 8, 100, size: 500), Adapter("too-big", 8, 100, size: 5000)],
        };
        foreach (var name in PlacementPolicies.Names)
        {
            var plan = PlacementPolicies.Create(name).Plan(snapshot, null);
            Assert.Equal(["too-big"], plan.Unplaced);
            Assert.Contains("fits", plan.Workers[0].Adapters);
        }
    }

    [Fact]
    public void Base_model_demand_is_rank_group_zero_and_lora_base_always_has_a_consumer()
    {
        // Base demand worth one worker at the smallest measured rank (no key 0 measured: 2400).
        var withBase = new LoadSnapshot
        {
            Workers = [Worker("w1"), Worker("w2")],
            Adapters = [new AdapterDemand { Id = null, DemandTps = 2400 }, Adapter("a8", 8, 2400)],
        };
        var plan = _policy.Plan(withBase, null);
        Assert.Equal(1, plan.Budgets[0]);
        var baseWorker = Assert.Single(plan.Workers, w => w.RankGroup == 0);
        Assert.True(baseWorker.ServesBase);
        Assert.Equal(1.0, baseWorker.BaseShare);
        Assert.Equal(0, baseWorker.MaxRank); // it batches no adapter, so it runs at base-model speed

        // No base demand at all: someone still reads lora-base, and every configured bucket has a reader.
        var noBase = withBase with { Adapters = [Adapter("a8", 8, 2400)] };
        var plan2 = _policy.Plan(noBase, null);
        Assert.Contains(plan2.Workers, w => w.ServesBase);
        foreach (int bucket in RankBuckets.Default.Boundaries)
            Assert.Contains(plan2.Workers, w => w.RankQueues.Contains(bucket));
    }

    [Fact]
    public void No_demand_leaves_every_worker_idle_in_the_base_group()
    {
        var snapshot = new LoadSnapshot { Workers = [Worker("w1"), Worker("w2")], Adapters = [Adapter("a", 8, 0)] };
        var plan = _policy.Plan(snapshot, null);
        Assert.Equal(new Dictionary<int, int> { [0] = 2 }, plan.Budgets);
        Assert.All(plan.Workers, w => Assert.Equal(0, w.Load));
        Assert.Contains(plan.Workers, w => w.RankQueues.Contains(8)); // a job for "a" still has a reader
    }

    [Fact]
    public void Workers_are_matched_to_their_current_state_so_nothing_moves()
    {
        // Without history, workers in id order take groups in rank order: w1 → 8, w2 → 128.
        // The workers report the opposite; the Hungarian match keeps them where they are.
        var snapshot = new LoadSnapshot
        {
            Workers =
            [
                Worker("w1") with { RankQueues = [128], ResidentAdapters = ["a128"] },
                Worker("w2") with { RankQueues = [8], ResidentAdapters = ["a8"] },
            ],
            Adapters = [Adapter("a8", 8, 2000), Adapter("a128", 128, 1400)],
        };
        Assert.Contains("a8", _policy.Plan(snapshot, null).Workers.Single(w => w.Id == "w1").Adapters);

        var plan = _policy.Plan(snapshot, PlacementPlan.FromCurrentState(snapshot));
        Assert.Equal(["a128"], plan.Workers.Single(w => w.Id == "w1").Adapters);
        Assert.Equal(["a8"], plan.Workers.Single(w => w.Id == "w2").Adapters);
        Assert.Equal(0, plan.Moves!.AdapterLoads);
        // Queues nobody read (lora-base, empty buckets) are added; none of the current ones is dropped.
        Assert.DoesNotContain(plan.Moves.Items, m => m.Kind == MoveKind.RemoveQueue);
    }

    [Fact]
    public void Moves_list_what_each_worker_must_load_evict_and_start_or_stop_consuming()
    {
        var snapshot = new LoadSnapshot
        {
            Workers = [Worker("w1") with { RankQueues = [16], ResidentAdapters = ["old16"] }],
            Adapters = [Adapter("a8", 8, 1000, size: 123), Adapter("old16", 16, 0)],
        };
        var plan = _policy.Plan(snapshot, PlacementPlan.FromCurrentState(snapshot));
        var moves = plan.Moves!;
        Assert.Equal(1, moves.AdapterLoads);
        Assert.Equal(123, moves.BytesLoaded);
        Assert.Equal(1, moves.AdapterEvictions);
        Assert.Contains(new PlacementMove("w1", MoveKind.LoadAdapter, Adapter: "a8"), moves.Items);
        Assert.Contains(new PlacementMove("w1", MoveKind.EvictAdapter, Adapter: "old16"), moves.Items);
        Assert.Contains(new PlacementMove("w1", MoveKind.AddQueue, Queue: "lora-rank-8"), moves.Items);
        Assert.Contains(new PlacementMove("w1", MoveKind.AddQueue, Queue: "lora-base"), moves.Items);
    }

    [Fact]
    public void Heterogeneous_workers_are_loaded_by_their_own_operating_points()
    {
        var fast = A100.ToDictionary(p => p.Key, p => p.Value * 2);
        var snapshot = new LoadSnapshot
        {
            Workers = [Worker("slow"), Worker("fast", points: fast)],
            Adapters = [.. Enumerable.Range(0, 12).Select(i => Adapter($"a{i}", 8, 500))],
        };
        var plan = _policy.Plan(snapshot, null);
        // rankUtil = 6000 / mean(2400, 4800) = 1.667, targetUtil 0.833: the fast worker carries twice the tokens.
        Assert.Equal(6000 / 3600.0 / 2, plan.TargetUtil!.Value, 9);
        var slow = plan.Workers.Single(w => w.Id == "slow");
        var fastWorker = plan.Workers.Single(w => w.Id == "fast");
        Assert.Equal(plan.TargetUtil.Value, slow.Load, 6);
        Assert.Equal(plan.TargetUtil.Value, fastWorker.Load, 6);
    }
}
