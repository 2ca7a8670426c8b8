using LoRAQueue.Core.Placement;

namespace LoRAQueue.Core.Tests.Placement;

/// <summary>What every plan of every policy must satisfy, checked against the snapshot it came from.</summary>
public static class PlanInvariants
{
    public static void Check(LoadSnapshot snapshot, PlacementPlan plan, string context)
    {
        var buckets = snapshot.Buckets();
        var workers = snapshot.Workers.ToDictionary(w => w.Id);
        var sizes = snapshot.Adapters.Where(a => a.Id is not null).ToDictionary(a => a.Id!, a => a.SizeBytes);
        var demandBuckets = snapshot.Adapters.Where(a => a.DemandTps > 0).Select(a => Bucket(buckets, a)).ToHashSet();

        // Every worker appears exactly once; budgets count the workers' rank groups and sum to N.
        Assert.True(snapshot.Workers.Count == plan.Workers.Count, $"{context}: {plan.Workers.Count} workers in the plan");
        Assert.True(workers.Keys.Order().SequenceEqual(plan.Workers.Select(w => w.Id).Order()), $"{context}: worker ids differ");
        Assert.True(plan.Budgets.Values.Sum() == snapshot.Workers.Count, $"{context}: budgets sum to {plan.Budgets.Values.Sum()}");
        foreach (var (group, count) in plan.Budgets)
            Assert.True(count == plan.Workers.Count(w => w.RankGroup == group), $"{context}: budget of group {group} ≠ its workers");

        foreach (var w in plan.Workers)
        {
            // Memory: what it holds fits, and is what it says it uses.
            long used = w.Adapters.Sum(a => sizes[a]);
            Assert.True(used == w.MemoryUsedBytes, $"{context}: {w.Id} reports {w.MemoryUsedBytes} B used, holds {used} B");
            Assert.True(used <= workers[w.Id].MemoryBytes, $"{context}: {w.Id} holds {used} B > {workers[w.Id].MemoryBytes} B");
            // Holding an adapter means consuming its queue.
            foreach (var id in w.Adapters)
                Assert.True(w.RankQueues.Contains(buckets.BucketOf(snapshot.Adapters.First(a => a.Id == id).Rank)),
                    $"{context}: {w.Id} holds {id} without consuming its queue");
            // The load is routed demand over the operating point at the largest rank with demand it consumes.
            int maxRank = w.RankQueues.Where(demandBuckets.Contains).DefaultIfEmpty(0).Max();
            Assert.True(maxRank == w.MaxRank, $"{context}: {w.Id} max_rank {w.MaxRank}, expected {maxRank}");
            double routed = w.AdapterShares.Sum(s => s.Value * snapshot.Adapters.First(a => a.Id == s.Key).DemandTps)
                            + (w.BaseShare ?? 0) * (snapshot.Adapters.FirstOrDefault(a => a.Id is null)?.DemandTps ?? 0);
            double expected = routed / new OperatingPointCurve(workers[w.Id].OperatingPoints).At(maxRank);
            Assert.True(Math.Abs(expected - w.Load) <= 1e-5 * Math.Max(1, expected), $"{context}: {w.Id} load {w.Load}, expected {expected}");
        }

        // Every adapter with demand is served, in full, by workers whose queues include its bucket — unless no worker
        // had the memory for it.
        foreach (var a in snapshot.Adapters.Where(a => a.DemandTps > 0))
        {
            int bucket = Bucket(buckets, a);
            var holders = a.Id is null
                ? plan.Workers.Where(w => w.BaseShare is > 0).ToList()
                : plan.Workers.Where(w => w.Adapters.Contains(a.Id)).ToList();
            if (a.Id is not null && plan.Unplaced.Contains(a.Id))
            {
                Assert.Empty(holders);
                foreach (var w in plan.Workers)
                    Assert.True(w.MemoryUsedBytes + a.SizeBytes > workers[w.Id].MemoryBytes,
                        $"{context}: {a.Id} reported unplaced although {w.Id} has room");
                continue;
            }
            Assert.True(holders.Count > 0, $"{context}: adapter {a.Id ?? "(base)"} with demand is held by nobody");
            foreach (var w in holders)
                Assert.True(bucket == 0 ? w.ServesBase : w.RankQueues.Contains(bucket), $"{context}: {w.Id} holds {a.Id} but not its queue");
            double shares = holders.Sum(w => a.Id is null ? w.BaseShare!.Value : w.AdapterShares[a.Id]);
            Assert.True(Math.Abs(shares - 1) < 1e-4, $"{context}: shares of {a.Id ?? "(base)"} sum to {shares}");
        }

        // No queue is left without a consumer: base, every configured bucket, every adapter's bucket.
        var known = new[] { 0 }.Concat(buckets.Boundaries).Concat(snapshot.Adapters.Select(a => Bucket(buckets, a)));
        foreach (int bucket in known.Distinct())
            Assert.True(plan.Workers.Any(w => bucket == 0 ? w.ServesBase : w.RankQueues.Contains(bucket)),
                $"{context}: nobody consumes {RankBuckets.QueueName(bucket == 0 ? null : bucket)}");
    }

    public static int Bucket(RankBuckets buckets, AdapterDemand a) => a.Id is null ? 0 : buckets.BucketOf(a.Rank);
}
