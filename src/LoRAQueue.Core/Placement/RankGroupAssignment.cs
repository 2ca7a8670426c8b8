namespace LoRAQueue.Core.Placement;

/// <summary>
/// Gives each worker a rank-group slot. Without a previous placement, workers in id order take the slots in rank
/// order. With one, it is an assignment problem solved exactly (Hungarian) so that the fewest adapters and queue
/// assignments move. A worker scores for a slot of bucket b the adapters (by bytes, in units of the mean adapter
/// size, so one average adapter = 1) and queues it can expect to keep there: everything it held and consumed if b is
/// its previous group — packing gives previous holders their shares back first — otherwise only b's adapters and b's
/// queue.
/// </summary>
internal static class RankGroupAssignment
{
    /// <summary>Returns the rank group of each of <see cref="PlacementInput.Workers"/>.</summary>
    public static int[] Assign(IReadOnlyList<int> slotBuckets, PlacementInput input, PreviousPlacement previous)
    {
        var workers = input.Workers;
        if (slotBuckets.Count != workers.Count)
            throw new InvalidOperationException($"{workers.Count} workers but {slotBuckets.Count} rank-group slots");
        if (previous.IsEmpty) return [.. slotBuckets];

        var sized = input.Entries.Where(e => e.HasDemand && !e.IsBase && e.SizeBytes > 0).ToList();
        double meanSize = sized.Count > 0 ? sized.Average(e => (double)e.SizeBytes) : 1;
        var buckets = slotBuckets.Distinct().ToList();
        var scores = new double[workers.Count, slotBuckets.Count];
        for (int w = 0; w < workers.Count; w++)
        {
            string id = workers[w].Id;
            var held = input.Entries.Where(e => e.HasDemand && previous.HeldAdapter(id, e)).ToList();
            var scoreOf = buckets.ToDictionary(b => b, b => previous.RankGroupOf(id) == b
                ? held.Sum(e => (double)e.SizeBytes) / meanSize + previous.QueueCount(id)
                : held.Where(e => e.Bucket == b).Sum(e => (double)e.SizeBytes) / meanSize + (previous.Consumed(id, b) ? 1 : 0));
            for (int s = 0; s < slotBuckets.Count; s++) scores[w, s] = scoreOf[slotBuckets[s]];
        }
        int[] slotOf = HungarianAlgorithm.MaximizeScore(scores);
        return [.. slotOf.Select(s => slotBuckets[s])];
    }
}
