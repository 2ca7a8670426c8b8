using LoRAQueue.Core.Placement;

namespace LoRAQueue.Core.Tests.Placement;

public class BaselinePolicyTests
{
    private static readonly Dictionary<int, double> Points = new() { [8] = 2400, [128] = 1600 };

    private static LoadSnapshot Snapshot(int workers, long memory, params (string Id, int Rank, double Tps)[] adapters) => new()
    {
        Workers = [.. Enumerable.Range(0, workers).Select(i => new WorkerState { Id = $"w{i}", MemoryBytes = memory, OperatingPoints = Points })],
        Adapters = [.. adapters.Select(a => new AdapterDemand { Id = a.Id, Rank = a.Rank, SizeBytes = 100, DemandTps = a.Tps })],
    };

    [Fact]
    public void Replicate_all_consumes_every_queue_everywhere_and_keeps_the_hottest_adapters()
    {
        var snapshot = Snapshot(3, memory: 300, ("hot", 8, 900), ("warm", 128, 300), ("cool", 16, 30), ("cold", 8, 3));
        var plan = new ReplicateAllPolicy().Plan(snapshot, null);

        Assert.All(plan.Workers, w =>
        {
            Assert.True(w.ServesBase);
            Assert.Equal([8, 16, 32, 64, 128], w.RankQueues);
            Assert.Equal(128, w.MaxRank); // every worker batches the largest rank with demand
            Assert.Contains("hot", w.Adapters);
        });
        // Room for 3 adapters per worker: one copy of each first, then the hottest fill what is left.
        Assert.Equal(9, plan.Workers.Sum(w => w.Adapters.Count));
        Assert.Equal(3, plan.Workers.Count(w => w.Adapters.Contains("warm")));
        Assert.Single(plan.Workers, w => w.Adapters.Contains("cold"));
        Assert.Equal(1.0 / 3, plan.Workers[0].AdapterShares["hot"], 9);
    }

    [Fact]
    public void Random_partition_deals_adapters_evenly_and_its_seed_decides_where()
    {
        var adapters = Enumerable.Range(0, 40).Select(i => ($"a{i:D2}", 8 << (i % 5), 10.0 + i)).ToArray();
        var snapshot = Snapshot(6, memory: 10_000, adapters);
        var plan = new RandomPartitionPolicy().Plan(snapshot, null);

        Assert.All(plan.Workers, w => Assert.InRange(w.Adapters.Count, 6, 7));
        Assert.Equal(40, plan.Workers.Sum(w => w.Adapters.Count));
        var other = new RandomPartitionPolicy(seed: 7).Plan(snapshot, null);
        Assert.NotEqual(plan.Workers.Select(w => string.Join(",", w.Adapters)), other.Workers.Select(w => string.Join(",", w.Adapters)));
        // Not simply by rank or by name: some worker mixes the smallest and the largest rank.
        Assert.Contains(plan.Workers, w => w.RankQueues.Contains(8) && w.RankQueues.Contains(128));
    }

    [Fact]
    public void Contiguous_gives_each_worker_a_run_of_adapters_in_rank_order()
    {
        var adapters = Enumerable.Range(0, 20).Select(i => ($"a{i:D2}", 8 << (i % 5), 10.0 * (20 - i))).ToArray();
        var snapshot = Snapshot(4, memory: 10_000, adapters);
        var plan = new ContiguousPolicy().Plan(snapshot, null);

        var rankOf = snapshot.Adapters.ToDictionary(a => a.Id!, a => a.Rank);
        int previousLargest = 0;
        foreach (var w in plan.Workers) // by id = run order
        {
            Assert.Equal(5, w.Adapters.Count);
            var ranks = w.Adapters.Select(a => rankOf[a]).ToList();
            Assert.True(ranks.Min() >= previousLargest, $"{w.Id} starts below the previous run");
            previousLargest = ranks.Max();
        }
    }
}
