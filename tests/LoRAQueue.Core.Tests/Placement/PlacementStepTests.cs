using LoRAQueue.Core.Placement;

namespace LoRAQueue.Core.Tests.Placement;

/// <summary>The scheduler's decision as a pure function: the plan, its diff against what the workers report, and when to place.</summary>
public sealed class PlacementStepTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly IReadOnlyDictionary<string, long> NoQueues = new Dictionary<string, long>();
    private readonly PlacementStep _step = new(PlacementPolicies.Create("loraserve"),
        new DriftDetector(new DriftSettings { Window = TimeSpan.FromSeconds(60), MinInterval = TimeSpan.FromSeconds(10) }));

    private static WorkerState Worker(string id, long epoch, int[] queues, params string[] resident) => new()
    {
        Id = id, MemoryBytes = 1L << 30, OperatingPoints = new Dictionary<int, double> { [8] = 100, [128] = 50 },
        RankQueues = queues, ServesBase = false, ResidentAdapters = resident, Epoch = epoch,
    };

    private static LoadSnapshot Snapshot(params WorkerState[] workers) => new()
    {
        Workers = workers,
        Adapters =
        [
            new AdapterDemand { Id = "a8", Rank = 8, SizeBytes = 1000, DemandTps = 60 },
            new AdapterDemand { Id = "a128", Rank = 128, SizeBytes = 8000, DemandTps = 30 },
        ],
    };

    [Fact]
    public void The_first_placement_diffs_each_worker_from_what_its_heartbeat_reports()
    {
        var snapshot = Snapshot(Worker("w1", 0, [8, 16, 32, 64, 128], "a8"), Worker("w2", 0, [8, 16, 32, 64, 128]));
        var outcome = _step.Decide(PlacementMemory.None, snapshot, NoQueues, T0);

        Assert.Equal(DriftReason.Initial, outcome.Drift.Reason);
        Assert.True(outcome.Places);
        var plan = outcome.Plan!;
        foreach (var changes in outcome.Changes!)
        {
            var target = plan.Workers.Single(w => w.Id == changes.Worker);
            var reported = snapshot.Workers.Single(w => w.Id == changes.Worker);
            Assert.Equal(0, changes.BasedOnEpoch);
            // Applying the diff to the reported state gives the plan: nothing else moves.
            var queues = reported.RankQueues!.Select(q => RankBuckets.QueueName(q)).Except(changes.StopQueues).Union(changes.StartQueues);
            var targetQueues = target.RankQueues.Select(q => RankBuckets.QueueName(q)).Concat(target.ServesBase ? [RankBuckets.BaseQueueName] : []);
            Assert.Equal(targetQueues.Order(), queues.Order());
            var adapters = reported.ResidentAdapters!.Except(changes.Evict).Union(changes.Load);
            Assert.Equal(target.Adapters.Order(), adapters.Order());
        }
        // The moves recorded are the diffs sent, counted once.
        Assert.Equal(outcome.Changes!.Sum(c => c.Load.Count), plan.Moves!.AdapterLoads);
        Assert.Equal(outcome.Changes!.Sum(c => c.StartQueues.Count + c.StopQueues.Count), plan.Moves.QueueChanges);
        // An adapter a worker already holds is not loaded again.
        if (plan.Workers.Single(w => w.Id == "w1").Adapters.Contains("a8"))
            Assert.DoesNotContain("a8", outcome.Changes!.Single(c => c.Worker == "w1").Load);
    }

    [Fact]
    public void A_worker_left_behind_is_placed_again_from_its_own_state_after_the_minimum_interval()
    {
        var first = _step.Decide(PlacementMemory.None, Snapshot(Worker("w1", 0, [8]), Worker("w2", 0, [8])), NoQueues, T0);
        var memory = new PlacementMemory(first.Plan, 5, first.Signature, T0);
        var placed = (string id) => first.Plan!.Workers.Single(w => w.Id == id);
        WorkerState AsPlanned(string id, long epoch) => Worker(id, epoch, [.. placed(id).RankQueues], [.. placed(id).Adapters]);

        // Both applied epoch 5: nothing to do.
        var caughtUp = Snapshot(AsPlanned("w1", 5), AsPlanned("w2", 5));
        Assert.False(_step.Decide(memory, caughtUp, NoQueues, T0.AddSeconds(20)).Places);

        // w2 restarted (epoch 0, its configured queues): within the minimum interval nothing, after it w2 gets a diff from epoch 0.
        var behind = Snapshot(AsPlanned("w1", 5), Worker("w2", 0, [8, 16, 32, 64, 128]));
        Assert.False(_step.Decide(memory, behind, NoQueues, T0.AddSeconds(5)).Places);
        var again = _step.Decide(memory, behind, NoQueues, T0.AddSeconds(20));
        Assert.Equal(DriftReason.WorkerBehind, again.Drift.Reason);
        Assert.Contains("w2", again.Drift.Detail);
        var w2 = again.Changes!.Single(c => c.Worker == "w2");
        Assert.Equal(0, w2.BasedOnEpoch);
        Assert.Equal(5, again.Changes!.Single(c => c.Worker == "w1").BasedOnEpoch);
        Assert.Equal(["w2"], again.Signature.Behind);
    }

    [Fact]
    public void Without_measured_demand_nothing_is_placed()
    {
        var snapshot = Snapshot(Worker("w1", 0, [8])) with { Adapters = [new AdapterDemand { Id = "a8", Rank = 8, DemandTps = 0 }] };
        var outcome = _step.Decide(PlacementMemory.None, snapshot, NoQueues, T0);
        Assert.False(outcome.Places);
        Assert.Equal("no measured demand", outcome.Skipped);
    }

    [Fact]
    public void Lag_counts_only_workers_below_the_latest_epoch()
    {
        Assert.Empty(PlacementLag.Behind(0, [("w1", 0)]));
        Assert.Equal(["w1", "w3"], PlacementLag.Behind(4, [("w3", null), ("w2", 4), ("w1", 3), ("w4", 5)]));
    }
}
