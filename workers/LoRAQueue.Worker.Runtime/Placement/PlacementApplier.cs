using LoRAQueue.Contracts;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>
/// Carries out placement commands for one worker, one at a time: checks each with <see cref="PlacementPlanner"/>, then
/// runs its diff — loads the adapters, connects the new rank queues, stops the left ones (their in-flight jobs finish first,
/// see <see cref="RankQueueEndpoints"/>), evicts — and raises <see cref="Applied"/> (the Redis reporter then sends a
/// heartbeat at once, so the scheduler sees the new epoch without waiting a report interval).
/// </summary>
public sealed class PlacementApplier(WorkerSettings settings, AdapterCache adapters, RankQueueEndpoints endpoints, ILogger<PlacementApplier> logger)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private long _epoch;

    /// <summary>The last epoch applied; 0 before the first command (the configured queues).</summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>Raised after a command was applied, with its decision.</summary>
    public event Func<PlacementDecision, Task>? Applied;

    public async Task<PlacementDecision> ApplyAsync(PlacementCommand command, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(command);
        await _gate.WaitAsync(ct);
        try
        {
            var state = new WorkerPlacementState(Epoch, endpoints.ConnectedBuckets, adapters.Resident);
            var decision = PlacementPlanner.Plan(settings.Id, state, command, adapters.InUse);
            if (!decision.Apply)
            {
                logger.LogDebug("Placement command ignored: {Reason}", decision.Reason);
                return decision;
            }
            logger.LogInformation("Applying placement epoch {Epoch} ({Policy}): load [{Load}], connect [{Connect}], stop [{Stop}], evict [{Evict}]",
                decision.Epoch, command.Policy, string.Join(", ", decision.Load), Describe(decision.Connect), Describe(decision.Stop),
                string.Join(", ", decision.Evict));

            // Make before break: adapters resident (pulled from peers where any holds them) before any job of a new queue can
            // arrive. They load side by side: the fetcher's byte budget bounds the pulls in flight.
            adapters.SetNeeded(command.LoadAdapters.Concat(adapters.Resident).Except(decision.Evict, StringComparer.Ordinal));
            var loads = await Task.WhenAll(decision.Load.Select(async adapterId => (adapterId, await adapters.EnsureLoadedAsync(adapterId, ct, "placement"))));
            foreach (var (adapterId, lookup) in loads)
            {
                if (lookup.Loaded)
                    logger.LogInformation("Placement epoch {Epoch}: {AdapterId} resident (from {Source}, {Ms:F0} ms)", decision.Epoch, adapterId,
                        lookup.Load?.Source, lookup.Load?.Ms);
                else
                    logger.LogWarning("Placement epoch {Epoch}: cannot prefetch {AdapterId}: {Problem}", decision.Epoch, adapterId, lookup.Problem);
            }
            await endpoints.ApplyAsync(decision.Queues, ct);
            foreach (var adapterId in decision.Evict) adapters.Evict(adapterId);
            var target = PlacementPlanner.TargetQueues(command);
            if (!decision.Queues.SequenceEqual(target))
                logger.LogWarning("Placement epoch {Epoch}: after its diff this worker consumes [{Queues}], the plan says [{Target}]",
                    decision.Epoch, Describe(decision.Queues), Describe(target));

            Interlocked.Exchange(ref _epoch, decision.Epoch);
            if (Applied is { } applied)
            {
                foreach (var handler in applied.GetInvocationList().Cast<Func<PlacementDecision, Task>>())
                    await handler(decision);
            }
            return decision;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static string Describe(IEnumerable<int?> buckets) => string.Join(", ", buckets.Select(b => Core.RankBuckets.QueueName(b)));
}
