namespace LoRAQueue.Core.Placement;

/// <summary>
/// A placement: for each worker, which rank queues it consumes and which adapters it keeps resident.
/// JSON (snake_case): <c>{"policy", "target_util"?, "budgets": {"8": 2, …}, "workers": [{"id", "rank_group",
/// "rank_queues": [8, …], "serves_base", "adapters": ["id", …], "adapter_shares": {"id": 0.4, …}, "base_share"?,
/// "load", "max_rank", "memory_used_bytes"}], "unplaced": [...], "moves"?}</c>.
/// Read back as <c>--previous</c>, only the workers' id, rank_queues, serves_base, adapters and adapter_shares matter.
/// </summary>
public sealed record PlacementPlan
{
    public string Policy { get; init; } = "";

    /// <summary>loraserve's per-worker target load (Σ rankUtil / N); null for policies without one.</summary>
    public double? TargetUtil { get; init; }

    /// <summary>Workers per rank group (0 = base model only); the counts sum to the number of workers.</summary>
    public IReadOnlyDictionary<int, int> Budgets { get; init; } = new Dictionary<int, int>();

    public required IReadOnlyList<WorkerPlacement> Workers { get; init; }

    /// <summary>Adapters with demand that no worker has the memory for.</summary>
    public IReadOnlyList<string> Unplaced { get; init; } = [];

    /// <summary>What changes against the previous placement; null when there was none.</summary>
    public PlacementMoves? Moves { get; init; }

    /// <summary>The placement the workers report running now (their rank_queues, serves_base and
    /// resident_adapters), usable as the previous plan when no earlier output is at hand. Demand is taken to be shared
    /// evenly among the workers that hold an adapter (or serve the base model): their heartbeats do not say more.</summary>
    public static PlacementPlan FromCurrentState(LoadSnapshot snapshot)
    {
        PlacementInput.From(snapshot); // validates: clear errors for duplicate ids and the like
        var held = snapshot.Workers.ToDictionary(w => w.Id, w => (w.ResidentAdapters ?? []).Distinct().ToList());
        var holders = held.Values.SelectMany(a => a).GroupBy(a => a).ToDictionary(g => g.Key, g => g.Count());
        // A heartbeat may list lora-base as serves_base or as queue 0.
        static bool ServesBase(WorkerState w) => w.ServesBase ?? (w.RankQueues?.Contains(0) ?? false);
        int servingBase = snapshot.Workers.Count(ServesBase);
        return new PlacementPlan
        {
            Policy = "current",
            Workers = [.. snapshot.Workers.Select(w => new WorkerPlacement
            {
                Id = w.Id,
                RankGroup = (w.RankQueues ?? []).DefaultIfEmpty(0).Max(),
                RankQueues = [.. (w.RankQueues ?? []).Where(q => q > 0).Distinct().Order()],
                ServesBase = ServesBase(w),
                BaseShare = ServesBase(w) ? 1.0 / servingBase : null,
                Adapters = [.. held[w.Id].Order(StringComparer.Ordinal)],
                AdapterShares = held[w.Id].ToDictionary(a => a, a => 1.0 / holders[a]),
            })],
        };
    }
}

public sealed record WorkerPlacement
{
    public required string Id { get; init; }

    /// <summary>The rank group the policy put this worker in (0 = base model only). Absent in a hand-written plan:
    /// then its largest rank queue counts as its group.</summary>
    public int? RankGroup { get; init; }

    /// <summary>Rank buckets whose queues (lora-rank-N) this worker consumes, ascending.</summary>
    public IReadOnlyList<int> RankQueues { get; init; } = [];

    /// <summary>Whether it consumes lora-base (jobs without an adapter).</summary>
    public bool ServesBase { get; init; }

    /// <summary>Adapters to keep resident, by id (ordinal order).</summary>
    public IReadOnlyList<string> Adapters { get; init; } = [];

    /// <summary>Fraction of each held adapter's demand the plan routes here (a routing weight; &lt; 1 when split).</summary>
    public IReadOnlyDictionary<string, double> AdapterShares { get; init; } = new Dictionary<string, double>();

    /// <summary>Fraction of base-model demand routed here; null when it serves none.</summary>
    public double? BaseShare { get; init; }

    /// <summary>Share of this worker's capacity the placement expects it to use: routed tokens/s ÷ its operating
    /// point at <see cref="MaxRank"/>.</summary>
    public double Load { get; init; }

    /// <summary>The largest rank bucket with demand among its queues: what sets its operating point.</summary>
    public int MaxRank { get; init; }

    public long MemoryUsedBytes { get; init; }
}

public enum MoveKind { LoadAdapter, EvictAdapter, AddQueue, RemoveQueue }

/// <summary>One change a worker must make; <see cref="Queue"/> is a queue name (lora-base, lora-rank-8).</summary>
public sealed record PlacementMove(string Worker, MoveKind Kind, string? Adapter = null, string? Queue = null);

/// <summary>What it costs to go from the previous placement to this one.</summary>
public sealed record PlacementMoves
{
    /// <summary>Adapters a worker must fetch because it did not hold them before: the expensive moves.</summary>
    public int AdapterLoads { get; init; }
    public long BytesLoaded { get; init; }
    public int AdapterEvictions { get; init; }
    public int QueueChanges { get; init; }
    public IReadOnlyList<PlacementMove> Items { get; init; } = [];
}
