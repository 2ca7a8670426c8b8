namespace LoRAQueue.Core.Placement;

public sealed record DriftSettings
{
    /// <summary>A placement is made at least this often.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Hysteresis: no placement sooner than this after the last one, whatever drifted.</summary>
    public TimeSpan MinInterval { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Total variation distance between rank-bucket demand shares that counts as drift.</summary>
    public double ShareThreshold { get; init; } = 0.2;
    /// <summary>Messages a queue's backlog must grow by, against the last placement, to count as drift.</summary>
    public long BacklogGrowth { get; init; } = 100;

    public void Validate()
    {
        if (MinInterval < TimeSpan.Zero || MinInterval > Window)
            throw new FormatException("LoRAQueue:Scheduler:MinIntervalSeconds must be between 0 and WindowSeconds");
        if (!(ShareThreshold > 0 && ShareThreshold <= 1)) throw new FormatException("LoRAQueue:Scheduler:DriftThreshold must be in (0, 1]");
        if (BacklogGrowth < 1) throw new FormatException("LoRAQueue:Scheduler:BacklogGrowth must be ≥ 1");
    }
}

/// <summary>What drift is measured on: demand per rank bucket (0 = base model), the live workers, queue depths, and the
/// workers that have not applied the latest placement (<see cref="PlacementLag"/>).</summary>
public sealed record LoadSignature(IReadOnlyDictionary<int, double> DemandByBucket, IReadOnlySet<string> Workers,
                                   IReadOnlyDictionary<string, long> QueueDepths)
{
    /// <summary>Workers whose heartbeat shows an epoch older than the latest placement's.</summary>
    public IReadOnlyList<string> Behind { get; init; } = [];

    public static LoadSignature From(LoadSnapshot snapshot, IReadOnlyDictionary<string, long> queueDepths, long latestEpoch = 0)
    {
        var buckets = snapshot.Buckets();
        var demand = new Dictionary<int, double>();
        foreach (var a in snapshot.Adapters)
        {
            int bucket = a.IsBase ? 0 : buckets.BucketOf(a.Rank);
            demand[bucket] = demand.GetValueOrDefault(bucket) + Math.Max(0, a.DemandTps);
        }
        return new LoadSignature(demand, snapshot.Workers.Select(w => w.Id).ToHashSet(StringComparer.Ordinal), queueDepths)
        {
            Behind = PlacementLag.Behind(latestEpoch, snapshot.Workers.Select(w => (w.Id, w.Epoch))),
        };
    }
}

public enum DriftReason { None, Initial, Window, WorkerSetChanged, WorkerBehind, DemandShift, BacklogGrowing }

public readonly record struct DriftDecision(DriftReason Reason, string Detail = "")
{
    public bool Place => Reason != DriftReason.None;
}

/// <summary>Decides when to recompute the placement: every window, or sooner when the load moved enough or a worker has not
/// applied the last placement (it refused a diff made from a state it no longer has, or restarted) — but never twice
/// within <see cref="DriftSettings.MinInterval"/>, so that noise around a threshold does not flap the workers.</summary>
public sealed class DriftDetector(DriftSettings settings)
{
    public DriftSettings Settings { get; } = settings;

    /// <param name="placed">The signature the last placement was computed from; null when none was made yet.</param>
    public DriftDecision Evaluate(LoadSignature? placed, DateTimeOffset placedAt, LoadSignature current, DateTimeOffset now)
    {
        if (placed is null) return new(DriftReason.Initial);
        var since = now - placedAt;
        if (since < Settings.MinInterval) return new(DriftReason.None);
        if (since >= Settings.Window) return new(DriftReason.Window);
        if (!placed.Workers.SetEquals(current.Workers))
        {
            var joined = current.Workers.Except(placed.Workers).Order(StringComparer.Ordinal);
            var left = placed.Workers.Except(current.Workers).Order(StringComparer.Ordinal);
            return new(DriftReason.WorkerSetChanged, $"joined [{string.Join(",", joined)}] left [{string.Join(",", left)}]");
        }
        if (current.Behind.Count > 0) return new(DriftReason.WorkerBehind, $"[{string.Join(",", current.Behind)}] not on the latest epoch");
        double tv = TotalVariation(placed.DemandByBucket, current.DemandByBucket);
        if (tv > Settings.ShareThreshold) return new(DriftReason.DemandShift, $"bucket shares moved {tv:F3}");
        foreach (var (queue, depth) in current.QueueDepths.OrderBy(q => q.Key, StringComparer.Ordinal))
        {
            long before = placed.QueueDepths.GetValueOrDefault(queue);
            if (depth - before >= Settings.BacklogGrowth) return new(DriftReason.BacklogGrowing, $"{queue} {before} -> {depth}");
        }
        return new(DriftReason.None);
    }

    /// <summary>Half the L1 distance between the two demand distributions over buckets: 0 = same shares, 1 = disjoint.
    /// No demand on either side is the same distribution; demand appearing from none is a full move.</summary>
    public static double TotalVariation(IReadOnlyDictionary<int, double> before, IReadOnlyDictionary<int, double> after)
    {
        double totalBefore = before.Values.Sum(), totalAfter = after.Values.Sum();
        if (totalBefore <= 0 && totalAfter <= 0) return 0;
        if (totalBefore <= 0 || totalAfter <= 0) return 1;
        double distance = 0;
        foreach (int bucket in before.Keys.Union(after.Keys))
            distance += Math.Abs(before.GetValueOrDefault(bucket) / totalBefore - after.GetValueOrDefault(bucket) / totalAfter);
        return distance / 2;
    }
}
