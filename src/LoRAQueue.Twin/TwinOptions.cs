using LoRAQueue.Core.Costs;
using LoRAQueue.Core.Placement;

namespace LoRAQueue.Twin;

/// <summary>A twin run: the fleet (workers and their engines' limits), the placement policy and scheduler settings, and the
/// cost model that prices each step.</summary>
public sealed record TwinOptions
{
    public required int Workers { get; init; }
    public required string Policy { get; init; }
    public required IStepCostModel Cost { get; init; }
    public LoraKernelKind Kernel { get; init; } = LoraKernelKind.Segmented;

    // Each worker's engine, as LoRAQueue:Worker configures it.
    public int KvBlocks { get; init; } = 4096;
    public int BlockSize { get; init; } = 16;
    public int MaxBatchTokens { get; init; } = 512;
    /// <summary>Sequences running at once; also each rank queue's prefetch per worker, as in the worker.</summary>
    public int MaxSequences { get; init; } = 16;
    public int MaxResidentAdapters { get; init; } = 32;
    /// <summary>Messages a worker may hold unacknowledged per rank queue (the live worker's is MaxSequences); null: MaxSequences.</summary>
    public int? Prefetch { get; init; }
    /// <summary>Load-aware credit: a worker takes another message only while it holds fewer than this many jobs its engine
    /// is not running yet (so a busy worker leaves the queue to idle ones); null: prefetch credit alone, as the live worker.</summary>
    public int? MaxBacklog { get; init; }
    /// <summary>Each worker's prefetch per rank queue in proportion to the share of its planned load that queue carries (at
    /// least 1): the plan's routing weights enforced through credit. False: the same prefetch on every queue.</summary>
    public bool WeightedPrefetch { get; init; }

    /// <summary>As `bench placement` runs: one placement from the whole trace's mean demand before the first arrival, its
    /// adapters resident from the start, and no scheduler checks after it. False: the live scheduler's windows and epochs.</summary>
    public bool PlanUpFront { get; init; }
    /// <summary>Bytes a worker gives to resident adapters (the policy's memory bound).</summary>
    public long AdapterMemoryBytes { get; init; } = 8L << 30;

    /// <summary>Seconds to make an adapter resident: from a peer that holds it (true) or from the store.</summary>
    public Func<long, bool, double> AdapterLoadSeconds { get; init; } = (bytes, fromPeer) => 0.03 + bytes / (fromPeer ? 3e9 : 1e9);

    // The scheduler, as LoRAQueue:Scheduler configures it.
    public DriftSettings Drift { get; init; } = new();
    public double CheckSeconds { get; init; } = 1;
    public int DemandWindows { get; init; } = DemandForecaster.DefaultWindows;

    /// <summary>Tokens/s per largest served rank (0 = base only) that every worker reports, as a live worker's calibration
    /// measures them; null: derived from the cost model (full decode batches at the trace's mean context).</summary>
    public IReadOnlyDictionary<int, double>? OperatingPoints { get; init; }

    public double SloTtftSeconds { get; init; } = 1;

    /// <summary>Steps that run at full speed at once, for a fleet sharing one machine (the in-process bench's workers share
    /// two cores and one kernel pool): a step that starts while k workers step takes k ÷ this as long. Null: every worker
    /// is its own machine.</summary>
    public double? ConcurrentSteps { get; init; }

    /// <summary>Fixed time from a job's delivery to its engine submission (bus, admission, tokenizer, adapter check).</summary>
    public double PickupSeconds { get; init; }

    /// <summary>Stops the run this long after the last arrival even if jobs are left (an overloaded fleet never drains).</summary>
    public double DrainSeconds { get; init; } = 600;
}
