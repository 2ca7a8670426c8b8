using System.Globalization;
using LoRAQueue.Worker;

namespace LoRAQueue.InProcess;

/// <summary>
/// One worker of an <see cref="InProcessFleet"/>: the real worker parts (<see cref="WorkerNode"/>), its own rank-queue
/// endpoints and placement applier wired as the worker host wires them, and its engine loop.
/// </summary>
public sealed class FleetWorker
{
    internal FleetWorker(WorkerNode node, RankQueueEndpoints endpoints, PlacementApplier placement, Task engineLoop)
    {
        Node = node;
        Endpoints = endpoints;
        Placement = placement;
        EngineLoop = engineLoop;
    }

    public string Id => Node.Settings.Id;
    public WorkerNode Node { get; }
    /// <summary>Its own rank-queue endpoints; unused (never connected) when the fleet shares rank queues.</summary>
    public RankQueueEndpoints Endpoints { get; }
    public PlacementApplier Placement { get; }
    public Task EngineLoop { get; }

    /// <summary>Set instead of <see cref="Endpoints"/> when the fleet shares rank queues.</summary>
    internal IReadOnlyList<int?>? SharedQueues { get; set; }

    /// <summary>The rank queues it consumes (null = lora-base), base first, then by rank.</summary>
    public IReadOnlyList<int?> Queues => [.. (SharedQueues ?? Endpoints.ConnectedBuckets).Distinct().OrderBy(b => b ?? -1)];

    /// <summary><see cref="Queues"/>, short: "base,8,16".</summary>
    public string QueueList => string.Join(",", Queues.Select(b => b?.ToString(CultureInfo.InvariantCulture) ?? "base"));
}
