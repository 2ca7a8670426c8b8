using LoRAQueue.Contracts;
using LoRAQueue.Worker;

namespace LoRAQueue.Worker.Tests;

public class PlacementPlannerTests
{
    private static readonly IReadOnlySet<string> NoneInUse = new HashSet<string>();

    private static WorkerPlacementState State(long epoch, int?[] queues, params string[] resident) => new(epoch, queues, resident);

    private static PlacementCommand Command(long epoch, long basedOn = -1, string worker = "w1", string[]? load = null, string[]? start = null,
                                            string[]? stop = null, string[]? evict = null, int[]? ranks = null, bool servesBase = false) =>
        new()
        {
            Epoch = epoch, BasedOnEpoch = basedOn < 0 ? epoch - 1 : basedOn, Worker = worker, LoadAdapters = load ?? [], StartQueues = start ?? [],
            StopQueues = stop ?? [], EvictAdapters = evict ?? [], RankQueues = ranks ?? [], ServesBase = servesBase, Policy = "loraserve",
        };

    [Fact]
    public void Command_for_another_worker_changes_nothing()
    {
        var decision = PlacementPlanner.Plan("w1", State(3, [8]), Command(4, worker: "w2", start: ["lora-rank-128"]), NoneInUse);
        Assert.False(decision.Apply);
        Assert.Contains("w2", decision.Reason);
        Assert.Empty(decision.Connect);
        Assert.Equal(3, decision.Epoch);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(4)]
    public void Stale_or_repeated_epoch_is_ignored(long epoch)
    {
        var decision = PlacementPlanner.Plan("w1", State(5, [8], "a"), Command(epoch, basedOn: 5, load: ["b"], evict: ["a"]), NoneInUse);
        Assert.False(decision.Apply);
        Assert.Empty(decision.Load);
        Assert.Empty(decision.Evict);
    }

    [Fact]
    public void A_diff_made_from_another_epochs_state_is_refused()
    {
        // The scheduler read a heartbeat from epoch 3; this worker has applied 4 since: the diff no longer fits.
        var decision = PlacementPlanner.Plan("w1", State(4, [8]), Command(5, basedOn: 3, start: ["lora-rank-16"], stop: ["lora-rank-8"]), NoneInUse);
        Assert.False(decision.Apply);
        Assert.Contains("epoch 3", decision.Reason);
        Assert.Equal(4, decision.Epoch);
    }

    [Fact]
    public void The_diff_is_applied_exactly_load_connect_stop_evict()
    {
        var current = State(1, [null, 8, 16], "keep", "drop", "lru-loaded");
        var decision = PlacementPlanner.Plan("w1", current,
            Command(2, load: ["new64"], start: ["lora-rank-64"], stop: ["lora-base", "lora-rank-8"], evict: ["drop"], ranks: [16, 64]), NoneInUse);

        Assert.True(decision.Apply);
        Assert.Equal(2, decision.Epoch);
        Assert.Equal(["new64"], decision.Load);
        Assert.Equal([64], decision.Connect);
        Assert.Equal([null, 8], decision.Stop);
        Assert.Equal(["drop"], decision.Evict); // only what the diff names: an adapter loaded on demand stays for the cache to manage
        Assert.Equal([16, 64], decision.Queues);
        Assert.Equal(decision.Queues, PlacementPlanner.TargetQueues(new PlacementCommand { RankQueues = [64, 16] }));
    }

    [Fact]
    public void Base_queue_comes_first_and_duplicates_collapse()
    {
        var decision = PlacementPlanner.Plan("w1", State(0, []), Command(1, start: ["lora-rank-32", "lora-base", "lora-rank-8", "lora-rank-32"]), NoneInUse);
        Assert.Equal([null, 8, 32], decision.Queues);
        Assert.Equal(3, decision.Connect.Count);
        Assert.Empty(decision.Stop);
    }

    [Fact]
    public void A_queue_name_that_is_no_rank_queue_refuses_the_command()
    {
        var decision = PlacementPlanner.Plan("w1", State(0, []), Command(1, start: ["jobs"]), NoneInUse);
        Assert.False(decision.Apply);
        Assert.Contains("jobs", decision.Reason);
    }

    [Fact]
    public void Adapter_in_use_by_a_running_job_is_not_evicted()
    {
        var inUse = new HashSet<string> { "busy" };
        var decision = PlacementPlanner.Plan("w1", State(1, [8], "busy", "idle"), Command(2, evict: ["busy", "idle"]), inUse);
        Assert.Equal(["idle"], decision.Evict);
    }

    [Fact]
    public void An_empty_diff_with_a_newer_epoch_moves_nothing_but_advances_the_epoch()
    {
        var decision = PlacementPlanner.Plan("w1", State(7, [8, 128], "a"), Command(8), NoneInUse);
        Assert.True(decision.Apply);
        Assert.Equal(8, decision.Epoch);
        Assert.Empty(decision.Load);
        Assert.Empty(decision.Connect);
        Assert.Empty(decision.Stop);
        Assert.Empty(decision.Evict);
        Assert.Equal([8, 128], decision.Queues);
    }
}
