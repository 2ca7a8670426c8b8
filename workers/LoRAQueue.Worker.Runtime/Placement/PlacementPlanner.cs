using LoRAQueue.Contracts;
using LoRAQueue.Core;

namespace LoRAQueue.Worker;

/// <summary>What a worker holds now: the last placement epoch it applied, the rank queues it consumes (null =
/// lora-base) and the adapters resident in its engine.</summary>
public sealed record WorkerPlacementState(long Epoch, IReadOnlyCollection<int?> Queues, IReadOnlyCollection<string> Resident);

/// <summary>
/// A <see cref="PlacementCommand"/>'s diff as this worker runs it, in order: <see cref="Load"/> (make before break),
/// <see cref="Connect"/>, <see cref="Stop"/>, <see cref="Evict"/>; <see cref="Queues"/> is what it consumes afterwards.
/// <see cref="Apply"/> is false (and every list empty) when the command is not for this worker, not newer than the epoch
/// applied, or made from a state the worker is no longer in; <see cref="Reason"/> says why.
/// </summary>
public sealed record PlacementDecision(bool Apply, string Reason, long Epoch, IReadOnlyList<string> Load, IReadOnlyList<int?> Connect,
                                       IReadOnlyList<int?> Stop, IReadOnlyList<string> Evict, IReadOnlyList<int?> Queues)
{
    public static PlacementDecision Ignore(string reason, long epoch) => new(false, reason, epoch, [], [], [], [], []);
}

/// <summary>Checks a <see cref="PlacementCommand"/> against the worker's state and reads its diff. It adds nothing to the
/// scheduler's diff: it only keeps an adapter a running job uses. Pure: no I/O, no clock.</summary>
public static class PlacementPlanner
{
    /// <param name="inUse">Adapters that jobs in the engine are using now; never evicted, even when the command drops them.</param>
    public static PlacementDecision Plan(string workerId, WorkerPlacementState current, PlacementCommand command, IReadOnlySet<string> inUse)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(inUse);
        if (!string.Equals(command.Worker, workerId, StringComparison.Ordinal))
            return PlacementDecision.Ignore($"addressed to worker '{command.Worker}', not '{workerId}'", current.Epoch);
        if (command.Epoch <= current.Epoch)
            return PlacementDecision.Ignore($"epoch {command.Epoch} is not newer than the applied epoch {current.Epoch}", current.Epoch);
        if (command.BasedOnEpoch != current.Epoch)
            return PlacementDecision.Ignore(
                $"epoch {command.Epoch} changes the state of epoch {command.BasedOnEpoch}, this worker is on {current.Epoch}; the scheduler places again from its heartbeat",
                current.Epoch);

        List<int?> start, stop;
        try
        {
            start = [.. command.StartQueues.Select(RankBuckets.ParseQueueName)];
            stop = [.. command.StopQueues.Select(RankBuckets.ParseQueueName)];
        }
        catch (FormatException e)
        {
            return PlacementDecision.Ignore($"epoch {command.Epoch} names a queue that is not a rank queue: {e.Message}", current.Epoch);
        }
        var stopping = stop.ToHashSet();
        var queues = current.Queues.Where(q => !stopping.Contains(q)).Union(start).OrderBy(q => q ?? -1).ToList();
        return new PlacementDecision(
            Apply: true,
            Reason: $"epoch {command.Epoch} replaces {current.Epoch}",
            Epoch: command.Epoch,
            Load: [.. command.LoadAdapters.Distinct(StringComparer.Ordinal)],
            Connect: [.. start.Distinct()],
            Stop: [.. stop.Distinct()],
            Evict: [.. command.EvictAdapters.Distinct(StringComparer.Ordinal).Where(a => !inUse.Contains(a))],
            Queues: queues);
    }

    /// <summary>The queues the command says the worker ends on (null = lora-base), to check the diff against.</summary>
    public static IReadOnlyList<int?> TargetQueues(PlacementCommand command) =>
        [.. (command.ServesBase ? new int?[] { null } : []).Concat(command.RankQueues.Distinct().Order().Select(b => (int?)b))];
}
