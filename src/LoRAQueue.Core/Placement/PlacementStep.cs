namespace LoRAQueue.Core.Placement;

/// <summary>What the scheduler carries from one check to the next: the plan in force, its epoch, and the load it was made from.</summary>
public sealed record PlacementMemory(PlacementPlan? Plan, long Epoch, LoadSignature? Signature, DateTimeOffset PlacedAt)
{
    public static readonly PlacementMemory None = new(null, 0, null, default);
}

/// <summary>One worker's part of a placement: the changes that take it from the state its heartbeat reported (at
/// <see cref="BasedOnEpoch"/>) to <see cref="Target"/>, in the order it applies them: load, start, stop, evict.
/// Queues are queue names (lora-base, lora-rank-8).</summary>
public sealed record WorkerChanges(string Worker, long BasedOnEpoch, WorkerPlacement Target, IReadOnlyList<string> Load,
                                   IReadOnlyList<string> StartQueues, IReadOnlyList<string> StopQueues, IReadOnlyList<string> Evict);

/// <summary>The step's answer: whether to place and why; when it places, the plan, its moves and each worker's changes.</summary>
public sealed record PlacementOutcome(DriftDecision Drift, LoadSignature Signature, string? Skipped = null, PlacementPlan? Plan = null,
                                       IReadOnlyList<WorkerChanges>? Changes = null)
{
    public bool Places => Plan is not null;
}

/// <summary>
/// The scheduler's decision as a pure function (vLLM's schedule, apart from execute): memory, load snapshot, queue depths and
/// the clock in, a decision out. The diff is computed here once, against what each worker reported running, and each worker
/// applies exactly its part of it. No I/O: the scheduler's loop reads the inputs, issues the epoch and sends the commands.
/// </summary>
public sealed class PlacementStep(IPlacementPolicy policy, DriftDetector drift)
{
    public IPlacementPolicy Policy { get; } = policy;

    public PlacementOutcome Decide(PlacementMemory memory, LoadSnapshot snapshot, IReadOnlyDictionary<string, long> queueDepths, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(snapshot);
        var signature = LoadSignature.From(snapshot, queueDepths, memory.Epoch);
        var reason = drift.Evaluate(memory.Signature, memory.PlacedAt, signature, now);
        if (!reason.Place) return new(reason, signature);
        if (snapshot.Workers.Count == 0) return new(reason, signature, Skipped: "no live worker with operating points");
        // Nothing to size a placement by (a fresh fleet, or a Redis that lost its data): a plan now would park workers on
        // no queue at all. The workers keep what they consume until demand is measured.
        if (!snapshot.Adapters.Any(a => a.DemandTps > 0)) return new(reason, signature, Skipped: "no measured demand");

        // The policy keeps adapters where the plan in force put them; the moves are counted from what the workers run.
        var running = PlacementPlan.FromCurrentState(snapshot);
        var plan = Policy.Plan(snapshot, memory.Plan ?? running);
        var sizes = snapshot.Adapters.Where(a => a.Id is not null).ToDictionary(a => a.Id!, a => a.SizeBytes, StringComparer.Ordinal);
        var moves = PlanDiff.Compute(running, plan, sizes);
        plan = plan with { Moves = moves };
        var epochs = snapshot.Workers.ToDictionary(w => w.Id, w => w.Epoch ?? 0, StringComparer.Ordinal);
        return new(reason, signature, Plan: plan, Changes: ChangesOf(plan, moves, epochs));
    }

    /// <summary>Each planned worker's moves, grouped (one entry per worker, even when it has nothing to change: its new epoch
    /// still tells it the placement it is on).</summary>
    public static IReadOnlyList<WorkerChanges> ChangesOf(PlacementPlan plan, PlacementMoves moves, IReadOnlyDictionary<string, long> appliedEpochs)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(moves);
        var byWorker = moves.Items.ToLookup(m => m.Worker, StringComparer.Ordinal);
        return [.. plan.Workers.Select(w =>
        {
            var items = byWorker[w.Id].ToList();
            List<string> Of(MoveKind kind, Func<PlacementMove, string?> value) => [.. items.Where(m => m.Kind == kind).Select(m => value(m)!)];
            return new WorkerChanges(w.Id, appliedEpochs.GetValueOrDefault(w.Id), w,
                Load: Of(MoveKind.LoadAdapter, m => m.Adapter), StartQueues: Of(MoveKind.AddQueue, m => m.Queue),
                StopQueues: Of(MoveKind.RemoveQueue, m => m.Queue), Evict: Of(MoveKind.EvictAdapter, m => m.Adapter));
        })];
    }
}
