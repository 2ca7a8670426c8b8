namespace LoRAQueue.Core.Placement;

/// <summary>
/// A worker being filled by a policy: the shares of entries routed to it, the queues it consumes, the memory its
/// resident adapters take. Its load is routed tokens/s over its operating point at the largest bucket with demand
/// among its queues — consuming a rank queue means batching that rank, which slows everything it serves.
/// </summary>
internal sealed class WorkerBin(WorkerState worker, OperatingPointCurve curve, IReadOnlySet<int> demandBuckets)
{
    private readonly Dictionary<PlacementEntry, double> _shares = new(ReferenceEqualityComparer.Instance);
    private readonly SortedSet<int> _queues = [];
    private int _maxRank; // the largest queue with demand, kept as queues are added (asked for in every comparison)

    public WorkerState Worker { get; } = worker;
    public OperatingPointCurve Curve { get; } = curve;
    public string Id => Worker.Id;

    /// <summary>The rank group a policy put the worker in (0 = base model only).</summary>
    public int RankGroup { get; set; }

    public long MemoryUsed { get; private set; }
    public double RoutedTps { get; private set; }
    public IReadOnlyDictionary<PlacementEntry, double> Shares => _shares;
    public IReadOnlyCollection<int> Queues => _queues;

    public int MaxRank => _maxRank;
    public double Load => RoutedTps <= 0 ? 0 : RoutedTps / Curve.At(MaxRank);

    public bool Holds(PlacementEntry entry) => _shares.ContainsKey(entry);
    public bool CanHold(PlacementEntry entry) => Holds(entry) || MemoryUsed + entry.SizeBytes <= Worker.MemoryBytes;

    /// <summary>Tokens/s this worker sustains (load 1) once it also serves <paramref name="entry"/>'s bucket.</summary>
    public double TpsAtFullLoadWith(PlacementEntry entry) => Curve.At(MaxRankWith(entry.Bucket));

    /// <summary>Tokens/s of <paramref name="entry"/> that still fit under load <paramref name="cap"/>, counting the
    /// slowdown if its bucket raises this worker's largest rank.</summary>
    public double RoomTps(PlacementEntry entry, double cap) => cap * TpsAtFullLoadWith(entry) - RoutedTps;

    /// <summary>The load this worker would have after taking <paramref name="tps"/> of <paramref name="entry"/>.</summary>
    public double LoadWith(PlacementEntry entry, double tps) => (RoutedTps + tps) / TpsAtFullLoadWith(entry);

    /// <summary>Routes <paramref name="share"/> of the entry's demand here; holding it and consuming its queue follow.</summary>
    public void Add(PlacementEntry entry, double share)
    {
        if (!Holds(entry)) MemoryUsed += entry.SizeBytes;
        _shares[entry] = _shares.GetValueOrDefault(entry) + share;
        RoutedTps += share * entry.DemandTps;
        AddQueue(entry.Bucket);
    }

    public void AddQueue(int bucket)
    {
        _queues.Add(bucket);
        _maxRank = MaxRankWith(bucket);
    }

    private int MaxRankWith(int bucket) => demandBuckets.Contains(bucket) ? Math.Max(_maxRank, bucket) : _maxRank;
}
