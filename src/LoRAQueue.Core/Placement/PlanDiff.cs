namespace LoRAQueue.Core.Placement;

/// <summary>The moves that take the workers from one placement to another.</summary>
public static class PlanDiff
{
    /// <summary>
    /// Per worker present in <paramref name="next"/>: adapters to load (held now, not before), adapters to evict, and
    /// queues to start or stop consuming (lora-base included). A worker absent from <paramref name="previous"/> starts
    /// empty; workers that left are not counted — nothing can be moved off a worker that is gone.
    /// </summary>
    /// <param name="sizes">Adapter sizes by id for <see cref="PlacementMoves.BytesLoaded"/>; unknown ids count 0.</param>
    public static PlacementMoves Compute(PlacementPlan previous, PlacementPlan next, IReadOnlyDictionary<string, long>? sizes = null)
    {
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(next);
        var before = new Dictionary<string, WorkerPlacement>(StringComparer.Ordinal);
        foreach (var w in previous.Workers ?? []) if (w?.Id is not null) before.TryAdd(w.Id, w);

        var items = new List<PlacementMove>();
        long bytes = 0;
        foreach (var now in next.Workers.OrderBy(w => w.Id, StringComparer.Ordinal))
        {
            before.TryGetValue(now.Id, out var was);
            var heldBefore = new HashSet<string>(was?.Adapters ?? [], StringComparer.Ordinal);
            var heldNow = new HashSet<string>(now.Adapters ?? [], StringComparer.Ordinal);
            foreach (var id in heldNow.Where(a => !heldBefore.Contains(a)).Order(StringComparer.Ordinal))
            {
                items.Add(new PlacementMove(now.Id, MoveKind.LoadAdapter, Adapter: id));
                bytes += sizes?.GetValueOrDefault(id) ?? 0;
            }
            foreach (var id in heldBefore.Where(a => !heldNow.Contains(a)).Order(StringComparer.Ordinal))
                items.Add(new PlacementMove(now.Id, MoveKind.EvictAdapter, Adapter: id));

            var queuesBefore = QueueNames(was);
            var queuesNow = QueueNames(now);
            foreach (var q in queuesNow.Where(q => !queuesBefore.Contains(q)).Order(StringComparer.Ordinal))
                items.Add(new PlacementMove(now.Id, MoveKind.AddQueue, Queue: q));
            foreach (var q in queuesBefore.Where(q => !queuesNow.Contains(q)).Order(StringComparer.Ordinal))
                items.Add(new PlacementMove(now.Id, MoveKind.RemoveQueue, Queue: q));
        }
        return new PlacementMoves
        {
            AdapterLoads = items.Count(m => m.Kind == MoveKind.LoadAdapter),
            BytesLoaded = bytes,
            AdapterEvictions = items.Count(m => m.Kind == MoveKind.EvictAdapter),
            QueueChanges = items.Count(m => m.Kind is MoveKind.AddQueue or MoveKind.RemoveQueue),
            Items = items,
        };
    }

    private static HashSet<string> QueueNames(WorkerPlacement? w)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (w is null) return names;
        foreach (var q in (w.RankQueues ?? []).Where(q => q > 0)) names.Add(RankBuckets.QueueName(q));
        if (w.ServesBase) names.Add(RankBuckets.QueueName(null));
        return names;
    }
}
