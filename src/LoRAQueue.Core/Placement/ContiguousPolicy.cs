namespace LoRAQueue.Core.Placement;

/// <summary>
/// Baseline: a static split sorted by rank — adapters ordered by (bucket, rank, id) and cut into N contiguous runs of
/// equal count (±1), run i to worker i (by id). A worker without the memory passes the adapter on to the next worker.
/// Each worker consumes the queues of the adapters it holds; every worker serves the base model.
/// </summary>
public sealed class ContiguousPolicy : IPlacementPolicy
{
    public const string PolicyName = "contiguous";

    public string Name => PolicyName;

    public PlacementPlan Plan(LoadSnapshot snapshot, PlacementPlan? previous)
    {
        var input = PlacementInput.From(snapshot);
        var bins = input.NewBins();
        var byRank = input.Entries.Where(e => !e.IsBase)
            .OrderBy(e => e.Bucket).ThenBy(e => e.Rank).ThenBy(e => e.Id, StringComparer.Ordinal).ToList();
        int[] runLength = LargestRemainder.Apportion([.. Enumerable.Repeat(1.0, bins.Count)], byRank.Count);

        var runOf = new Dictionary<PlacementEntry, int>(ReferenceEqualityComparer.Instance);
        for (int run = 0, next = 0; run < bins.Count; run++)
            for (int k = 0; k < runLength[run]; k++) runOf[byRank[next++]] = run;

        var unplaced = BaselineRouting.Deal(byRank, bins, e => runOf[e]);
        BaselineRouting.SpreadBase(input, bins);
        return PlanBuilder.Build(Name, input, bins, unplaced, previous);
    }
}
