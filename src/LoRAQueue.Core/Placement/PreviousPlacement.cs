namespace LoRAQueue.Core.Placement;

/// <summary>The placement in force, looked up by worker: what each worker held and consumed.</summary>
internal sealed class PreviousPlacement
{
    private sealed record Held(HashSet<string> Adapters, IReadOnlyDictionary<string, double> Shares,
        HashSet<int> RankQueues, bool ServesBase, double? BaseShare, int RankGroup, double RelativeLoad);

    private readonly Dictionary<string, Held> _byWorker = new(StringComparer.Ordinal);

    public PreviousPlacement(PlacementPlan? plan)
    {
        foreach (var w in plan?.Workers ?? [])
        {
            if (w?.Id is null || _byWorker.ContainsKey(w.Id)) continue;
            var queues = new HashSet<int>(w.RankQueues ?? []);
            _byWorker[w.Id] = new Held(new HashSet<string>(w.Adapters ?? [], StringComparer.Ordinal),
                w.AdapterShares ?? new Dictionary<string, double>(), queues, w.ServesBase, w.BaseShare,
                w.RankGroup ?? queues.DefaultIfEmpty(0).Max(),
                plan!.TargetUtil is > 0 && double.IsFinite(w.Load) ? w.Load / plan.TargetUtil.Value : 0);
        }
    }

    public bool IsEmpty => _byWorker.Count == 0;

    /// <summary>The share of <paramref name="entry"/>'s demand <paramref name="workerId"/> served before: its
    /// adapter_shares or base_share entry; 1 for an adapter it held with no share given (a hand-written plan).</summary>
    public double ShareOf(string workerId, PlacementEntry entry)
    {
        if (!_byWorker.TryGetValue(workerId, out var w)) return 0;
        if (entry.IsBase) return w.BaseShare ?? 0;
        if (!w.Adapters.Contains(entry.Id!)) return 0;
        return w.Shares.TryGetValue(entry.Id!, out double share) ? share : 1;
    }

    public bool HeldAdapter(string workerId, PlacementEntry entry) =>
        !entry.IsBase && _byWorker.TryGetValue(workerId, out var w) && w.Adapters.Contains(entry.Id!);

    /// <summary>The worker's previous load as a multiple of the previous targetUtil (0 when unknown).</summary>
    public double RelativeLoadOf(string workerId) => _byWorker.TryGetValue(workerId, out var w) ? w.RelativeLoad : 0;

    /// <summary>The worker's previous rank group; null if it was not in the previous placement.</summary>
    public int? RankGroupOf(string workerId) => _byWorker.TryGetValue(workerId, out var w) ? w.RankGroup : null;

    /// <summary>How many queues the worker consumed (lora-base included).</summary>
    public int QueueCount(string workerId) =>
        _byWorker.TryGetValue(workerId, out var w) ? w.RankQueues.Count + (w.ServesBase ? 1 : 0) : 0;

    /// <summary>Whether the worker consumed the bucket's queue (0 = lora-base).</summary>
    public bool Consumed(string workerId, int bucket) =>
        _byWorker.TryGetValue(workerId, out var w) && (bucket == 0 ? w.ServesBase : w.RankQueues.Contains(bucket));
}
