namespace LoRAQueue.Core.Placement;

/// <summary>
/// LoRAServe's rank-aware placement, with its gaps closed.
/// <list type="number">
/// <item>Per rank bucket b (0 = base model): rankUtil[b] = Σ demand(b) / OP[b], OP[b] being the fleet's mean measured
/// operating point at b (so heterogeneous workers count by their average); targetUtil = Σ rankUtil / N.</item>
/// <item>Worker budgets per bucket by largest remainder of rankUtil (they sum to N). A bucket whose budget rounds to 0
/// still gets a share of some worker: its adapters are leftovers (step 4).</item>
/// <item>Workers take the budget slots (step 5); each group's workers consume its queue. Adapters, largest demand first,
/// are poured onto their group's workers up to targetUtil, the least loaded first, split across workers when one
/// straddles a boundary (the shares are the routing weights). A worker without the memory for an adapter is skipped.</item>
/// <item>Leftovers, highest bucket first (they have the fewest places to go), go up to targetUtil onto workers whose
/// largest rank already covers them (no slowdown), then onto the least loaded counting the slowdown of a raised rank;
/// what still remains goes where it raises the load least.</item>
/// <item>Sticky, given the placement in force: workers are matched to the slots by <see cref="RankGroupAssignment"/>
/// (Hungarian, maximum expected overlap of adapters and queues); the previous budgets are kept while they still round
/// every quota closely; packing gives previous holders their shares back first, up to <see cref="StickySlack"/> over
/// the target, and a new copy must be worth that slack too (a new copy for less would spread slivers around). An
/// unchanged snapshot reproduces its placement, a small change moves only its margin. Stickiness may cost at most the
/// slack in peak load over a fresh packing of the same groups (beyond that it is applied strictly, then not at all),
/// and the packing that loads the fewest adapters anew wins.</item>
/// </list>
/// Without a previous placement, on a homogeneous fleet whose memory does not bind, every worker's load is targetUtil
/// to within 1 % whenever the demand allows a balanced placement at all: every bucket's quota rankUtil/targetUtil is a
/// whole number of workers (mixing ranks on a worker costs more than serving them apart, so nothing else balances
/// exactly), or the operating points do not depend on rank. See LoraServeBalanceTests.
/// </summary>
public sealed class LoraServePolicy : IPlacementPolicy
{
    public const string PolicyName = "loraserve";

    /// <summary>A piece of a split adapter whose load is below this fraction of targetUtil is not worth a resident copy
    /// of the adapter: it is skipped, or taken along with the piece before it.</summary>
    public const double MinPieceOfTarget = 0.005;

    /// <summary>How far over targetUtil (as a fraction of it) a worker may go to keep an adapter it already serves, the
    /// smallest piece worth a new copy when replanning, and what stickiness may cost in peak load.</summary>
    public const double DefaultStickySlack = 0.05;

    private const double Negligible = 1e-9;

    public LoraServePolicy(double stickySlack = DefaultStickySlack)
    {
        if (!double.IsFinite(stickySlack) || stickySlack < 0)
            throw new ArgumentOutOfRangeException(nameof(stickySlack), stickySlack, "must be ≥ 0");
        StickySlack = stickySlack;
    }

    public double StickySlack { get; }

    public string Name => PolicyName;

    public PlacementPlan Plan(LoadSnapshot snapshot, PlacementPlan? previous)
    {
        var input = PlacementInput.From(snapshot);
        var prior = new PreviousPlacement(previous);
        int workers = input.Workers.Count;

        var demandBuckets = input.DemandBuckets.Order().ToList();
        var rankUtil = demandBuckets.Select(b =>
            input.Entries.Where(e => e.Bucket == b).Sum(e => e.DemandTps) / input.Curves.Average(c => c.At(b))).ToList();
        double targetUtil = rankUtil.Sum() / workers;
        // Nothing to place: every worker idles in the base group (every queue still gets a consumer).
        int[] budget = demandBuckets.Count > 0 ? LargestRemainder.Apportion(rankUtil, workers) : [];
        budget = PreviousBudgetsIfStillClose(demandBuckets, rankUtil, budget, input, prior);
        var slotGroups = demandBuckets.Count > 0
            ? demandBuckets.SelectMany((b, i) => Enumerable.Repeat(b, budget[i])).ToList()
            : [.. Enumerable.Repeat(0, workers)];
        var budgets = demandBuckets.Count > 0
            ? demandBuckets.Select((b, i) => (b, budget[i])).ToDictionary(x => x.b, x => x.Item2)
            : new Dictionary<int, int> { [0] = workers };

        int[] groupOfWorker = RankGroupAssignment.Assign(slotGroups, input, prior);
        var fresh = Pack(input, groupOfWorker, targetUtil, new PreviousPlacement(null), new Stickiness(0, false, MinPieceOfTarget));
        var (bins, unplaced) = prior.IsEmpty ? fresh : MostStickyAcceptable(input, groupOfWorker, targetUtil, prior, fresh);
        return PlanBuilder.Build(Name, input, bins, unplaced, previous, targetUtil, budgets);
    }

    /// <summary>
    /// Budget hysteresis: when the previous placement's group sizes (over the same workers) are still a rounding of
    /// every quota (rankUtil/targetUtil) within 0.5 + <see cref="StickySlack"/>·quota, keep them — two near-equal
    /// remainders trading places would otherwise move a whole worker's adapters for a 1 % shift in demand.
    /// </summary>
    private int[] PreviousBudgetsIfStillClose(IReadOnlyList<int> demandBuckets, IReadOnlyList<double> rankUtil,
        int[] budget, PlacementInput input, PreviousPlacement prior)
    {
        if (prior.IsEmpty || demandBuckets.Count == 0) return budget;
        var groups = input.Workers.Select(w => prior.RankGroupOf(w.Id)).ToList();
        if (groups.Any(g => g is null)) return budget; // a worker joined: budgets are recomputed
        var previous = demandBuckets.Select(b => groups.Count(g => g == b)).ToArray();
        if (previous.Sum() != input.Workers.Count) return budget; // a previous group lost its demand
        double perWorker = rankUtil.Sum() / input.Workers.Count;
        for (int i = 0; i < previous.Length; i++)
        {
            double quota = rankUtil[i] / perWorker;
            if (Math.Abs(quota - previous[i]) > 0.5 + StickySlack * quota) return budget;
        }
        return previous;
    }

    /// <summary>
    /// Packs holding on to the previous placement as firmly as the slack allows, strictly (back to the target, no
    /// slack), and afresh; of those whose peak load (what sets the SLO) is within the slack of the fresh packing's and
    /// that leave no more adapters unplaced, takes the one that loads the fewest adapters anew (then changes the fewest
    /// queues; ties to the stickier).
    /// </summary>
    private (List<WorkerBin> Bins, List<PlacementEntry> Unplaced) MostStickyAcceptable(PlacementInput input,
        IReadOnlyList<int> groupOfWorker, double targetUtil, PreviousPlacement prior,
        (List<WorkerBin> Bins, List<PlacementEntry> Unplaced) fresh)
    {
        double acceptablePeak = PeakLoad(fresh.Bins) * (1 + StickySlack) + Negligible;
        var candidates = new[]
            {
                new Stickiness(StickySlack, KeepRelativeLoad: true, Math.Max(MinPieceOfTarget, StickySlack)),
                new Stickiness(0, KeepRelativeLoad: false, MinPieceOfTarget),
            }
            .Select(stickiness => Pack(input, groupOfWorker, targetUtil, prior, stickiness))
            .Where(c => PeakLoad(c.Bins) <= acceptablePeak && c.Unplaced.Count <= fresh.Unplaced.Count)
            .Append(fresh);
        return candidates.MinBy(c => (AdapterLoads(c.Bins, prior), QueueChanges(c.Bins, prior)));
    }

    private static int AdapterLoads(IEnumerable<WorkerBin> bins, PreviousPlacement prior) =>
        bins.Sum(b => b.Shares.Keys.Count(e => !e.IsBase && !prior.HeldAdapter(b.Id, e)));

    private static int QueueChanges(IEnumerable<WorkerBin> bins, PreviousPlacement prior) =>
        bins.Sum(b => b.Queues.Count(q => !prior.Consumed(b.Id, q)) + prior.QueueCount(b.Id)
                      - b.Queues.Count(q => prior.Consumed(b.Id, q)));

    private static double PeakLoad(IEnumerable<WorkerBin> bins) => bins.Max(b => b.Load);

    /// <param name="groupOfWorker">The rank group of each worker of <see cref="PlacementInput.Workers"/>.</param>
    private static (List<WorkerBin> Bins, List<PlacementEntry> Unplaced) Pack(PlacementInput input,
        IReadOnlyList<int> groupOfWorker, double targetUtil, PreviousPlacement prior, Stickiness stickiness)
    {
        var bins = input.NewBins();
        for (int i = 0; i < bins.Count; i++)
        {
            bins[i].RankGroup = groupOfWorker[i];
            bins[i].AddQueue(groupOfWorker[i]);
        }

        var pour = new DemandPouring(bins, targetUtil, prior, stickiness);
        var leftovers = new List<(PlacementEntry Entry, double Share)>();
        foreach (var entry in input.Entries.Where(e => e.HasDemand))
        {
            double rest = pour.Pour(entry, 1, bins.Where(b => b.RankGroup == entry.Bucket));
            if (rest > Negligible) leftovers.Add((entry, rest));
        }

        var unplaced = new List<PlacementEntry>();
        foreach (var (entry, leftover) in leftovers.OrderByDescending(l => l.Entry.Bucket)) // stable: demand order kept
        {
            double rest = pour.Pour(entry, leftover, bins.Where(b => b.MaxRank >= entry.Bucket));
            if (rest > Negligible) rest = pour.Pour(entry, rest, bins);
            if (rest > Negligible && !pour.PlaceWhereLoadRisesLeast(entry, rest, bins)) unplaced.Add(entry);
        }
        return (bins, unplaced);
    }
}
