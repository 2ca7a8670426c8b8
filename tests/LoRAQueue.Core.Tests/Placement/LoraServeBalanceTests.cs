using LoRAQueue.Core.Placement;

namespace LoRAQueue.Core.Tests.Placement;

/// <summary>
/// loraserve's arithmetic and its balance. "Demand allows balance" is defined as in <see cref="LoraServePolicy"/>: a
/// homogeneous fleet whose memory does not bind, and either every bucket's quota rankUtil/targetUtil a whole number of
/// workers or operating points that do not depend on rank. Then every load is within 1 % of targetUtil.
/// </summary>
public class LoraServeBalanceTests
{
    private const double Tolerance = 0.01;
    private readonly LoraServePolicy _policy = new();

    [Fact]
    public void TargetUtil_and_budgets_follow_the_formulas_on_random_fleets()
    {
        var generator = new SnapshotGenerator(seed: 31);
        for (int i = 0; i < 300; i++)
        {
            var snapshot = generator.Next();
            var plan = _policy.Plan(snapshot, null);
            var (buckets, rankUtil) = RankUtil(snapshot);
            if (buckets.Count == 0) continue;
            int n = snapshot.Workers.Count;
            Assert.Equal(rankUtil.Sum() / n, plan.TargetUtil!.Value, 9);
            var expected = LargestRemainder.Apportion(rankUtil, n);
            for (int b = 0; b < buckets.Count; b++)
                Assert.True(expected[b] == plan.Budgets[buckets[b]], $"case {i}: bucket {buckets[b]} budget {plan.Budgets[buckets[b]]}, expected {expected[b]}");
        }
    }

    [Fact]
    public void Loads_are_within_one_percent_of_target_when_every_quota_is_a_whole_number_of_workers()
    {
        var generator = new SnapshotGenerator(seed: 32) { Homogeneous = true, Memory = MemoryRegime.Ample };
        var random = new Random(32);
        int checkedCases = 0;
        for (int i = 0; i < 400; i++)
        {
            var snapshot = WithWholeQuotas(generator.Next(), random);
            if (snapshot is null) continue;
            var plan = _policy.Plan(snapshot, null);
            AssertBalanced(plan, $"case {i}");
            checkedCases++;
        }
        Assert.True(checkedCases >= 250, $"only {checkedCases} cases could be given whole quotas");
    }

    [Fact]
    public void Loads_are_within_one_percent_of_target_when_operating_points_do_not_depend_on_rank()
    {
        var generator = new SnapshotGenerator(seed: 33) { Homogeneous = true, Memory = MemoryRegime.Ample };
        for (int i = 0; i < 300; i++)
        {
            var snapshot = generator.Next();
            var flat = snapshot.Workers[0].OperatingPoints.ToDictionary(p => p.Key, _ => 2000.0);
            snapshot = snapshot with { Workers = [.. snapshot.Workers.Select(w => w with { OperatingPoints = flat })] };
            var plan = _policy.Plan(snapshot, null);
            if (plan.TargetUtil is > 0) AssertBalanced(plan, $"case {i}");
        }
    }

    private static void AssertBalanced(PlacementPlan plan, string context)
    {
        double target = plan.TargetUtil!.Value;
        foreach (var w in plan.Workers)
            Assert.True(Math.Abs(w.Load - target) <= Tolerance * target, $"{context}: {w.Id} load {w.Load:F4}, target {target:F4}");
    }

    /// <summary>Rescales each bucket's demand so that its quota is a whole number (≥ 1) of workers; null when there are
    /// more buckets with demand than workers.</summary>
    private static LoadSnapshot? WithWholeQuotas(LoadSnapshot snapshot, Random random)
    {
        var (buckets, _) = RankUtil(snapshot);
        int n = snapshot.Workers.Count;
        if (buckets.Count == 0 || buckets.Count > n) return null;
        var workersOf = buckets.ToDictionary(b => b, _ => 1);
        for (int extra = buckets.Count; extra < n; extra++) workersOf[buckets[random.Next(buckets.Count)]]++;

        var curve = new OperatingPointCurve(snapshot.Workers[0].OperatingPoints);
        var rankBuckets = snapshot.Buckets();
        double loadPerWorker = 0.4 + random.NextDouble();
        var bucketDemand = snapshot.Adapters.Where(a => a.DemandTps > 0)
            .GroupBy(a => PlanInvariants.Bucket(rankBuckets, a)).ToDictionary(g => g.Key, g => g.Sum(a => a.DemandTps));
        return snapshot with
        {
            Adapters = [.. snapshot.Adapters.Select(a =>
            {
                if (a.DemandTps <= 0) return a;
                int b = PlanInvariants.Bucket(rankBuckets, a);
                return a with { DemandTps = a.DemandTps / bucketDemand[b] * workersOf[b] * loadPerWorker * curve.At(b) };
            })],
        };
    }

    /// <summary>Buckets with demand (ascending) and their rankUtil, computed here from the definitions.</summary>
    private static (List<int> Buckets, List<double> RankUtil) RankUtil(LoadSnapshot snapshot)
    {
        var rankBuckets = snapshot.Buckets();
        var curves = snapshot.Workers.Select(w => new OperatingPointCurve(w.OperatingPoints)).ToList();
        var demand = snapshot.Adapters.Where(a => a.DemandTps > 0)
            .GroupBy(a => PlanInvariants.Bucket(rankBuckets, a)).OrderBy(g => g.Key)
            .ToDictionary(g => g.Key, g => g.Sum(a => a.DemandTps));
        return ([.. demand.Keys], [.. demand.Select(d => d.Value / curves.Average(c => c.At(d.Key)))]);
    }
}
