namespace LoRAQueue.Core.Placement;

/// <summary>Routing shared by the baselines, where workers compete on shared queues.</summary>
internal static class BaselineRouting
{
    /// <summary>
    /// Splits an entry's demand over the workers that serve it in proportion to their speed at their largest rank:
    /// on a shared queue a faster worker pulls more jobs.
    /// </summary>
    public static void Spread(PlacementEntry entry, IReadOnlyList<WorkerBin> holders)
    {
        if (holders.Count == 0) return;
        var speed = holders.Select(b => b.Curve.At(Math.Max(b.MaxRank, entry.HasDemand ? entry.Bucket : 0))).ToList();
        double total = speed.Sum();
        for (int i = 0; i < holders.Count; i++) holders[i].Add(entry, speed[i] / total);
    }

    /// <summary>Every worker holds the base model, so base demand goes to all of them.</summary>
    public static void SpreadBase(PlacementInput input, IReadOnlyList<WorkerBin> bins)
    {
        var baseEntry = input.Entries.FirstOrDefault(e => e.IsBase);
        if (baseEntry is not null) Spread(baseEntry, bins);
        else foreach (var bin in bins) bin.AddQueue(0);
    }

    /// <summary>
    /// Deals the adapters, in the given order, onto the workers starting at <paramref name="firstWorker"/>(entry);
    /// a worker without the memory passes the adapter to the next one (cyclically). Returns those with demand that fit
    /// nowhere.
    /// </summary>
    public static List<PlacementEntry> Deal(IEnumerable<PlacementEntry> adapters, IReadOnlyList<WorkerBin> bins,
        Func<PlacementEntry, int> firstWorker)
    {
        var unplaced = new List<PlacementEntry>();
        foreach (var entry in adapters)
        {
            int start = firstWorker(entry);
            var holder = Enumerable.Range(0, bins.Count).Select(k => bins[(start + k) % bins.Count])
                .FirstOrDefault(b => b.CanHold(entry));
            if (holder is not null) holder.Add(entry, 1);
            else if (entry.HasDemand) unplaced.Add(entry);
        }
        return unplaced;
    }
}
