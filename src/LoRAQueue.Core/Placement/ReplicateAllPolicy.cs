namespace LoRAQueue.Core.Placement;

/// <summary>
/// Baseline: what vLLM or S-LoRA replicas behind a load balancer do. Every worker consumes every queue, so each runs at
/// the operating point of the largest rank with demand, and keeps as many adapters resident as its memory takes,
/// hottest first — after one copy of every adapter with demand has found a place (on the worker with the most free
/// memory), so that memory full of hot replicas does not leave a cold adapter nowhere. Demand is shared among the
/// holders of an adapter in proportion to their speed.
/// </summary>
public sealed class ReplicateAllPolicy : IPlacementPolicy
{
    public const string PolicyName = "replicate-all";

    public string Name => PolicyName;

    public PlacementPlan Plan(LoadSnapshot snapshot, PlacementPlan? previous)
    {
        var input = PlacementInput.From(snapshot);
        var bins = input.NewBins();
        foreach (var bin in bins)
            foreach (int bucket in input.KnownBuckets) bin.AddQueue(bucket);

        // Decide the holders first (shares depend on how many there are), tracking memory here.
        var free = bins.Select(b => b.Worker.MemoryBytes).ToArray();
        var holders = new Dictionary<PlacementEntry, List<int>>(ReferenceEqualityComparer.Instance);
        foreach (var entry in input.Entries) holders[entry] = [];
        var unplaced = new List<PlacementEntry>();
        foreach (var entry in input.Entries.Where(e => e.HasDemand)) // hottest first
        {
            int roomiest = Enumerable.Range(0, bins.Count).MaxBy(i => free[i]);
            if (free[roomiest] < entry.SizeBytes) { unplaced.Add(entry); continue; }
            holders[entry].Add(roomiest);
            free[roomiest] -= entry.SizeBytes;
        }
        for (int i = 0; i < bins.Count; i++)
            foreach (var entry in input.Entries.Where(e => !holders[e].Contains(i) && e.SizeBytes <= free[i]))
            {
                holders[entry].Add(i);
                free[i] -= entry.SizeBytes;
            }

        foreach (var entry in input.Entries)
            BaselineRouting.Spread(entry, [.. holders[entry].Order().Select(i => bins[i])]);
        return PlanBuilder.Build(Name, input, bins, unplaced, previous);
    }
}
