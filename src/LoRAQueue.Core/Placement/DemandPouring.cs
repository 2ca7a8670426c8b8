namespace LoRAQueue.Core.Placement;

/// <summary>How hard packing holds on to the previous placement.</summary>
/// <param name="Slack">How far over the cap (a fraction of it) a previous holder may go to keep its share, and how far
/// over the least loaded worker an overflow may go back to it.</param>
/// <param name="KeepRelativeLoad">Whether a previous holder may also return to its previous load relative to the
/// target (so that an unchanged snapshot, overflows included, comes back exactly).</param>
/// <param name="MinPieceOfCap">The smallest piece (a fraction of the cap) worth a new copy of an adapter.</param>
internal sealed record Stickiness(double Slack, bool KeepRelativeLoad, double MinPieceOfCap);

/// <summary>
/// Pours an entry's demand onto workers up to a load cap, splitting it where a worker fills up; previous holders get
/// their shares back first, within the <see cref="Stickiness"/> given — hysteresis, so that demand wobbling by a few
/// percent moves nothing.
/// </summary>
internal sealed class DemandPouring(
    IReadOnlyList<WorkerBin> allBins, double cap, PreviousPlacement previous, Stickiness stickiness)
{
    private const double Negligible = 1e-9;

    /// <summary>
    /// Routes up to <paramref name="share"/> of the entry's demand onto <paramref name="candidates"/> that have the
    /// memory, each up to the cap (counting the slowdown if the entry raises its largest rank). First every previous
    /// holder takes back what it served before (up to the cap plus the slack, or its previous relative load), so an
    /// unchanged snapshot reproduces its placement exactly and a small change moves little; then the rest goes to
    /// current holders, then to the least loaded. Returns the share left.
    /// </summary>
    public double Pour(PlacementEntry entry, double share, IEnumerable<WorkerBin> candidates)
    {
        var able = candidates.Where(b => b.CanHold(entry)).ToList();
        foreach (var bin in able.Where(b => Owed(b, entry) > 0)
                     .OrderByDescending(b => previous.ShareOf(b.Id, entry)).ThenBy(b => b.Id, StringComparer.Ordinal))
        {
            double want = Math.Min(share, Owed(bin, entry));
            double relative = stickiness.KeepRelativeLoad ? previous.RelativeLoadOf(bin.Id) * (1 + 1e-9) : 0;
            double limit = cap * Math.Max(1 + stickiness.Slack, relative);
            if (want > Negligible) share -= PourOnto(bin, entry, want, limit);
            if (share <= Negligible) return 0;
        }
        // What previous holders outside this stage's candidates served stays theirs to take back at a later stage.
        var candidateSet = new HashSet<WorkerBin>(able, ReferenceEqualityComparer.Instance);
        double reserved = Math.Min(share,
            allBins.Where(b => !candidateSet.Contains(b) && b.CanHold(entry)).Sum(b => Owed(b, entry)));
        double free = share - reserved;
        foreach (var bin in able.OrderByDescending(b => b.Holds(entry)).ThenBy(b => b.LoadWith(entry, 0))
                     .ThenBy(b => b.Id, StringComparer.Ordinal))
        {
            if (free <= Negligible) break;
            free -= PourOnto(bin, entry, free, cap);
        }
        double left = Math.Max(0, free) + reserved;
        return left <= Negligible ? 0 : left;
    }

    /// <summary>
    /// Places the rest of an entry (beyond every cap) where it raises the load least. A worker still owed part of its
    /// previous share gets that part back if its load then stays within the slack of the best alternative; ties go to a
    /// worker that holds the entry now. False when no worker has the memory.
    /// </summary>
    public bool PlaceWhereLoadRisesLeast(PlacementEntry entry, double share, IEnumerable<WorkerBin> bins)
    {
        var able = bins.Where(b => b.CanHold(entry)).ToList();
        if (able.Count == 0) return false;
        foreach (var bin in able.Where(b => Owed(b, entry) > 0).OrderByDescending(b => Owed(b, entry))
                     .ThenBy(b => b.Id, StringComparer.Ordinal).ToList())
        {
            double give = Math.Min(share, Owed(bin, entry));
            double least = able.Min(b => b.LoadWith(entry, give * entry.DemandTps));
            if (bin.LoadWith(entry, give * entry.DemandTps) > least + stickiness.Slack * cap) continue;
            bin.Add(entry, give);
            share -= give;
            if (share <= Negligible) return true;
        }
        double tps = share * entry.DemandTps;
        double lowest = able.Min(b => b.LoadWith(entry, tps));
        able.Where(b => b.LoadWith(entry, tps) <= lowest * (1 + 1e-9))
            .OrderByDescending(b => b.Holds(entry))
            .ThenBy(b => b.Id, StringComparer.Ordinal)
            .First().Add(entry, share);
        return true;
    }

    /// <summary>Adds as much of <paramref name="share"/> as fits under <paramref name="limit"/>; returns the share
    /// added. A piece below the minimum is not worth a new copy of the adapter, and a remainder that small is taken
    /// along rather than left behind.</summary>
    private double PourOnto(WorkerBin bin, PlacementEntry entry, double share, double limit)
    {
        double room = bin.RoomTps(entry, limit);
        if (room <= Negligible * entry.DemandTps) return 0;
        double wantTps = share * entry.DemandTps;
        double sliverTps = stickiness.MinPieceOfCap * cap * bin.TpsAtFullLoadWith(entry);
        double take = Math.Min(wantTps, room);
        if (take < wantTps && take < sliverTps && !bin.Holds(entry)) return 0;
        if (wantTps - take < sliverTps) take = wantTps;
        bin.Add(entry, take / entry.DemandTps);
        return take / entry.DemandTps;
    }

    /// <summary>What the worker served of the entry before and has not been given back yet.</summary>
    private double Owed(WorkerBin bin, PlacementEntry entry) =>
        Math.Max(0, previous.ShareOf(bin.Id, entry) - bin.Shares.GetValueOrDefault(entry));
}
