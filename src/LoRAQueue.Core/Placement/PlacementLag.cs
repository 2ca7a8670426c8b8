namespace LoRAQueue.Core.Placement;

/// <summary>Which workers have not applied the latest placement, from the epochs their heartbeats report. The scheduler
/// re-places when one stays behind; <c>placement show</c> and the gateway's /metrics report them.</summary>
public static class PlacementLag
{
    /// <summary>Ids (ordinal order) of the workers whose applied epoch is older than <paramref name="latestEpoch"/>;
    /// none while no placement was made (epoch 0).</summary>
    public static IReadOnlyList<string> Behind(long latestEpoch, IEnumerable<(string Worker, long? AppliedEpoch)> workers)
    {
        if (latestEpoch <= 0) return [];
        return [.. workers.Where(w => (w.AppliedEpoch ?? 0) < latestEpoch).Select(w => w.Worker).Order(StringComparer.Ordinal)];
    }
}
