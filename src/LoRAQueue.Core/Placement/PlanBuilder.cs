namespace LoRAQueue.Core.Placement;

/// <summary>Turns filled <see cref="WorkerBin"/>s into a <see cref="PlacementPlan"/>: the steps every policy shares.</summary>
internal static class PlanBuilder
{
    /// <param name="budgets">Workers per rank group as the policy decided them; null = each worker's group is its
    /// largest rank with demand (policies without groups).</param>
    public static PlacementPlan Build(string policy, PlacementInput input, IReadOnlyList<WorkerBin> bins,
        IEnumerable<PlacementEntry> unplaced, PlacementPlan? previous, double? targetUtil = null,
        IReadOnlyDictionary<int, int>? budgets = null)
    {
        GiveEveryQueueAConsumer(input, bins, new PreviousPlacement(previous));
        if (budgets is null)
        {
            foreach (var bin in bins) bin.RankGroup = bin.MaxRank;
            budgets = bins.GroupBy(b => b.RankGroup).ToDictionary(g => g.Key, g => g.Count());
        }

        var plan = new PlacementPlan
        {
            Policy = policy,
            TargetUtil = targetUtil,
            Budgets = new SortedDictionary<int, int>(budgets.ToDictionary()),
            Workers = [.. bins.OrderBy(b => b.Id, StringComparer.Ordinal).Select(ToWorkerPlacement)],
            Unplaced = [.. unplaced.Select(e => e.ToString()).Order(StringComparer.Ordinal)],
        };
        return previous is null ? plan : plan with { Moves = PlanDiff.Compute(previous, plan, input.SizesById) };
    }

    /// <summary>
    /// A job can arrive for any bucket — an adapter with no forecast demand, a bucket nobody has used yet, the base
    /// model — and must not wait in a queue nobody reads. Each such queue goes to a worker whose largest rank already
    /// covers it (the one that consumed it before if any, else the smallest such rank), else to the worker with the
    /// largest rank (the smallest slowdown should a job come).
    /// </summary>
    private static void GiveEveryQueueAConsumer(PlacementInput input, IReadOnlyList<WorkerBin> bins, PreviousPlacement previous)
    {
        foreach (int bucket in input.KnownBuckets)
        {
            if (bins.Any(b => b.Queues.Contains(bucket))) continue;
            var covering = bins.Where(b => b.MaxRank >= bucket).ToList();
            var chosen = (covering.Count > 0
                    ? covering.OrderByDescending(b => previous.Consumed(b.Id, bucket)).ThenBy(b => b.MaxRank)
                    : bins.OrderByDescending(b => previous.Consumed(b.Id, bucket)).ThenByDescending(b => b.MaxRank))
                .ThenBy(b => b.Load).ThenBy(b => b.Id, StringComparer.Ordinal).First();
            chosen.AddQueue(bucket);
        }
    }

    private static WorkerPlacement ToWorkerPlacement(WorkerBin bin)
    {
        var adapters = bin.Shares.Keys.Where(e => !e.IsBase).OrderBy(e => e.Id, StringComparer.Ordinal).ToList();
        var baseEntry = bin.Shares.Keys.FirstOrDefault(e => e.IsBase);
        return new WorkerPlacement
        {
            Id = bin.Id,
            RankGroup = bin.RankGroup,
            RankQueues = [.. bin.Queues.Where(q => q > 0)],
            ServesBase = bin.Queues.Contains(0),
            Adapters = [.. adapters.Select(e => e.Id!)],
            AdapterShares = new SortedDictionary<string, double>(
                adapters.ToDictionary(e => e.Id!, e => bin.Shares[e]), StringComparer.Ordinal),
            BaseShare = baseEntry is null ? null : bin.Shares[baseEntry],
            Load = bin.Load,
            MaxRank = bin.MaxRank,
            MemoryUsedBytes = bin.MemoryUsed,
        };
    }
}
