using LoRAQueue.Contracts;

namespace LoRAQueue.Worker;

/// <summary>What a worker holds now: the last placement epoch it applied, the rank queues it consumes (null =
/// lora-base) and the adapters resident in its engine.</summary>
public sealed record WorkerPlacementState(long Epoch, IReadOnlyCollection<int?> Queues, IReadOnlyCollection<string> Resident);

/// <summary>
/// The steps that take a worker from its current state to a command's placement, in the order they must run:
/// <see cref="Load"/> first (make before break), then <see cref="Connect"/>, then <see cref="Stop"/>, then
/// <see cref="Evict"/>. <see cref="Apply"/> is false (and every list empty) when the command is not for this worker or
/// is not newer than the epoch already applied; <see cref="Reason"/> says why.
/// </summary>
public sealed record PlacementDecision(bool Apply, string Reason, long Epoch, IReadOnlyList<string> Load, IReadOnlyList<int?> Connect,
                                       IReadOnlyList<int?> Stop, IReadOnlyList<string> Evict, IReadOnlyList<int?> Queues)
{
    public static PlacementDecision Ignore(string reason, long epoch) => new(false, reason, epoch, [], [], [], [], []);
}

/// <summary>Decides how a worker reacts to a <see cref="PlacementCommand"/>. Pure: no I/O, no clock.</summary>
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

        // Bases first, then buckets ascending: a stable order keeps logs and tests readable.
        var wanted = (command.ServesBase ? new int?[] { null } : [])
            .Concat(command.RankQueues.Distinct().Order().Select(b => (int?)b)).ToList();
        var currentQueues = current.Queues.ToHashSet();
        var wantedSet = wanted.ToHashSet();
        var keep = command.Adapters.ToHashSet(StringComparer.Ordinal);
        var resident = current.Resident.ToHashSet(StringComparer.Ordinal);

        return new PlacementDecision(
            Apply: true,
            Reason: $"epoch {command.Epoch} replaces {current.Epoch}",
            Epoch: command.Epoch,
            Load: [.. command.Adapters.Distinct(StringComparer.Ordinal).Where(a => !resident.Contains(a)).Order(StringComparer.Ordinal)],
            Connect: [.. wanted.Where(q => !currentQueues.Contains(q))],
            Stop: [.. current.Queues.Where(q => !wantedSet.Contains(q)).OrderBy(q => q ?? -1)],
            Evict: [.. resident.Where(a => !keep.Contains(a) && !inUse.Contains(a)).Order(StringComparer.Ordinal)],
            Queues: wanted);
    }
}
