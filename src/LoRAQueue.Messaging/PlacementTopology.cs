namespace LoRAQueue.Messaging;

/// <summary>
/// Each worker's own placement queue, placement-{worker id}: non-durable and auto-deleted (a worker that is gone needs no
/// placement; the scheduler places it again when its heartbeat returns). The scheduler sends each worker's command to the
/// queue's exchange, declared exactly as the worker's receive endpoint declares it, so no declaration disagrees.
/// </summary>
public static class PlacementTopology
{
    public static string QueueName(string workerId) => "placement-" + workerId;

    public static Uri SendAddress(string workerId) => new($"exchange:{QueueName(workerId)}?durable=false&autodelete=true");
}
