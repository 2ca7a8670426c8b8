using LoRAQueue.Contracts;
using LoRAQueue.Core.Placement;

namespace LoRAQueue.Scheduler;

/// <summary>A worker's <see cref="WorkerChanges"/> as the message it receives.</summary>
public static class WorkerCommands
{
    public static PlacementCommand Of(WorkerChanges changes, long epoch, string policy, DateTimeOffset issuedAt)
    {
        ArgumentNullException.ThrowIfNull(changes);
        return new PlacementCommand
        {
            Epoch = epoch,
            BasedOnEpoch = changes.BasedOnEpoch,
            Worker = changes.Worker,
            LoadAdapters = [.. changes.Load],
            StartQueues = [.. changes.StartQueues],
            StopQueues = [.. changes.StopQueues],
            EvictAdapters = [.. changes.Evict],
            RankQueues = [.. changes.Target.RankQueues],
            ServesBase = changes.Target.ServesBase,
            Policy = policy,
            IssuedAt = issuedAt,
        };
    }
}
