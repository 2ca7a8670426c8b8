using LoRAQueue.Contracts;
using LoRAQueue.Worker;

namespace LoRAQueue.Worker.Tests;

public class PlacementPlannerTests
{
    private static readonly IReadOnlySet<string> NoneInUse = new HashSet<string>();

    private static WorkerPlacementState State(long epoch, int?[] queues, params string[] resident) => new(epoch, queues, resident);

    private static PlacementCommand Command(long epoch, int[] ranks, bool servesBase = false, string worker = "w1", params string[] adapters) =>
        new() { Epoch = epoch, Worker = worker, RankQueues = ranks, ServesBase = servesBase, Adapters = adapters, Policy = "loraserve" };

    [Fact]
    public void Command_for_another_worker_changes_nothing()
    {
        var decision = PlacementPlanner.Plan("w1", State(3, [8]), Command(4, [128], worker: "w2"), NoneInUse);
        Assert.False(decision.Apply);
        Assert.Contains("w2", decision.Reason);
        Assert.Empty(decision.Connect);
        Assert.Empty(decision.Stop);
        Assert.Equal(3, decision.Epoch);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(4)]
    public void Stale_or_repeated_epoch_is_ignored(long epoch)
    {
        var decision = PlacementPlanner.Plan("w1", State(5, [8], "a"), Command(epoch, [128], adapters: "b"), NoneInUse);
        Assert.False(decision.Apply);
        Assert.Empty(decision.Load);
        Assert.Empty(decision.Evict);
    }

    [Fact]
    public void Newer_epoch_loads_connects_stops_and_evicts_the_difference()
    {
        var current = State(1, [null, 8, 16], "keep", "drop");
        var decision = PlacementPlanner.Plan("w1", current, Command(2, [16, 64], adapters: ["keep", "new64"]), NoneInUse);

        Assert.True(decision.Apply);
        Assert.Equal(2, decision.Epoch);
        Assert.Equal(["new64"], decision.Load);
        Assert.Equal([64], decision.Connect);
        Assert.Equal([null, 8], decision.Stop);
        Assert.Equal(["drop"], decision.Evict);
        Assert.Equal([16, 64], decision.Queues);
    }

    [Fact]
    public void Base_queue_comes_first_and_duplicate_buckets_collapse()
    {
        var decision = PlacementPlanner.Plan("w1", State(0, []), Command(1, [32, 8, 32], servesBase: true), NoneInUse);
        Assert.Equal([null, 8, 32], decision.Queues);
        Assert.Equal([null, 8, 32], decision.Connect);
        Assert.Empty(decision.Stop);
    }

    [Fact]
    public void Adapter_in_use_by_a_running_job_is_not_evicted()
    {
        var inUse = new HashSet<string> { "busy" };
        var decision = PlacementPlanner.Plan("w1", State(1, [8], "busy", "idle"), Command(2, [8]), inUse);
        Assert.Equal(["idle"], decision.Evict);
    }

    [Fact]
    public void Same_placement_with_newer_epoch_moves_nothing_but_advances_the_epoch()
    {
        var decision = PlacementPlanner.Plan("w1", State(7, [8, 128], "a"), Command(8, [128, 8], adapters: "a"), NoneInUse);
        Assert.True(decision.Apply);
        Assert.Equal(8, decision.Epoch);
        Assert.Empty(decision.Load);
        Assert.Empty(decision.Connect);
        Assert.Empty(decision.Stop);
        Assert.Empty(decision.Evict);
    }
}
