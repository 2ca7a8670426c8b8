using LoRAQueue.Core;
using LoRAQueue.Core.Placement;
using LoRAQueue.History;
using LoRAQueue.LoadState;
using LoRAQueue.Messaging;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

namespace LoRAQueue.Scheduler;

/// <summary>
/// The shell around <see cref="PlacementStep"/>: while this scheduler holds the lease, every check interval it reads the
/// inputs (registry, load snapshot from Redis, queue depths from RabbitMQ), asks the step for a decision, and when it places,
/// issues an epoch, records the placement and sends each worker its own <see cref="Contracts.PlacementCommand"/>. With Redis
/// unreachable nothing is sent, so the workers keep their last placement.
/// </summary>
public sealed class PlacementLoop(SchedulerOptions options, SchedulerLease lease, RedisLoadState loadState, IAdapterRegistry registry,
                                  PlacementHistory history, IQueueDepthReader queueDepths, ISendEndpointProvider sender,
                                  RankBuckets buckets, TimeProvider time, ILogger<PlacementLoop> logger) : BackgroundService
{
    private readonly PlacementStep _step = new(PlacementPolicies.Create(options.Policy), new DriftDetector(options.Drift));
    private PlacementMemory _memory = PlacementMemory.None;
    private bool _leading;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.CheckInterval, time);
        do
        {
            try
            {
                await CheckAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                logger.LogWarning("Redis unreachable, no placement sent (workers keep the last one): {Message}", e.Message);
            }
            catch (Exception e) when (e is NpgsqlException or PlacementInputException)
            {
                logger.LogError("Placement skipped: {Message}", e.Message);
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>One check: places when leading and the step says so.</summary>
    public async Task CheckAsync(CancellationToken ct)
    {
        if (!lease.IsLeader)
        {
            _leading = false; // a later takeover starts from what was recorded, not from what this process last saw
            return;
        }
        if (!_leading)
        {
            _leading = true;
            var latest = await history.GetLatestAsync(ct).ConfigureAwait(false);
            _memory = new PlacementMemory(latest?.Plan, Math.Max(_memory.Epoch, latest?.Epoch ?? 0), Signature: null, PlacedAt: default);
        }

        var adapters = (await registry.ListAsync(null, ct).ConfigureAwait(false))
            .ToDictionary(a => a.Id, a => new AdapterInfo(a.MaxRank, a.SizeBytes), StringComparer.Ordinal);
        var snapshot = await loadState.ReadSnapshotAsync(id => adapters.TryGetValue(id, out var info) ? info : null,
            options.Window, options.DemandWindows, rankBuckets: buckets.Boundaries).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var outcome = _step.Decide(_memory, snapshot, await ReadQueueDepthsAsync(ct).ConfigureAwait(false), now);
        if (outcome.Skipped is { } skipped) logger.LogDebug("{Reason}: no placement ({Skipped})", outcome.Drift.Reason, skipped);
        if (!outcome.Places) return;

        // The epoch is issued above every one recorded or sent, so a Redis that lost its counter cannot go back.
        if (await lease.NextEpochAsync(_memory.Epoch).ConfigureAwait(false) is not { } epoch)
        {
            logger.LogWarning("Lease lost before sending; placement dropped");
            return;
        }
        var plan = outcome.Plan!;
        var moves = plan.Moves!;
        var inputs = new PlacementInputs(snapshot.Workers.Count, snapshot.Adapters.Count(a => !a.IsBase), snapshot.Adapters.Sum(a => a.DemandTps));
        await history.RecordAsync(new PlacementRecord(epoch, _step.Policy.Name, Describe(outcome.Drift), now, inputs, plan, moves), ct)
            .ConfigureAwait(false);
        foreach (var changes in outcome.Changes!)
        {
            var endpoint = await sender.GetSendEndpoint(PlacementTopology.SendAddress(changes.Worker)).ConfigureAwait(false);
            await endpoint.Send(WorkerCommands.Of(changes, epoch, _step.Policy.Name, now), ct).ConfigureAwait(false);
        }
        logger.LogInformation("Placement epoch {Epoch} ({Reason}): {Workers} workers, {Loads} adapter loads, {Queues} queue changes",
            epoch, Describe(outcome.Drift), plan.Workers.Count, moves.AdapterLoads, moves.QueueChanges);
        _memory = new PlacementMemory(plan, epoch, outcome.Signature, now);
    }

    /// <summary>Ready messages per rank queue; none when the broker cannot be read (the backlog rule then waits a round).</summary>
    private async Task<IReadOnlyDictionary<string, long>> ReadQueueDepthsAsync(CancellationToken ct)
    {
        try
        {
            return await queueDepths.ReadAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RabbitMQ.Client.Exceptions.BrokerUnreachableException or RabbitMQ.Client.Exceptions.AlreadyClosedException
                                       or RabbitMQ.Client.Exceptions.OperationInterruptedException or IOException or TimeoutException)
        {
            logger.LogWarning("Queue depths not read: {Message}", e.Message);
            return new Dictionary<string, long>();
        }
    }

    private static string Describe(DriftDecision d) => d.Detail.Length == 0 ? d.Reason.ToString() : $"{d.Reason}: {d.Detail}";
}
