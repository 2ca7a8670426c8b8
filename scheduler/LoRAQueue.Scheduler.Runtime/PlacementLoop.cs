using LoRAQueue.Contracts;
using LoRAQueue.Core;
using LoRAQueue.Core.Placement;
using LoRAQueue.History;
using LoRAQueue.LoadState;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

namespace LoRAQueue.Scheduler;

/// <summary>
/// While this scheduler holds the lease: every check interval, reads the load snapshot, asks the
/// <see cref="DriftDetector"/> whether to place, and if so runs the policy against the placement in force, records
/// the result and publishes one <see cref="PlacementCommand"/> per worker under a fresh epoch. With Redis
/// unreachable nothing is published, so the workers keep their last placement.
/// </summary>
public sealed class PlacementLoop(SchedulerOptions options, SchedulerLease lease, RedisLoadState loadState, IAdapterRegistry registry,
                                  PlacementHistory history, IPublishEndpoint publisher, RankBuckets buckets, TimeProvider time,
                                  ILogger<PlacementLoop> logger) : BackgroundService
{
    private readonly IPlacementPolicy _policy = PlacementPolicies.Create(options.Policy);
    private readonly DriftDetector _drift = new(options.Drift);
    private PlacementPlan? _previous;
    private LoadSignature? _placedSignature;
    private DateTimeOffset _placedAt;
    private long _lastEpoch; // newest epoch recorded or published: the floor for the next one
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
                logger.LogWarning("Redis unreachable, no placement published (workers keep the last one): {Message}", e.Message);
            }
            catch (Exception e) when (e is NpgsqlException or PlacementInputException)
            {
                logger.LogError("Placement skipped: {Message}", e.Message);
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>One check: places when leading and the drift detector says so.</summary>
    public async Task CheckAsync(CancellationToken ct)
    {
        if (!lease.IsLeader)
        {
            // A later takeover starts from what was recorded, not from what this process last saw.
            _leading = false;
            return;
        }
        if (!_leading)
        {
            _leading = true;
            var latest = await history.GetLatestAsync(ct).ConfigureAwait(false);
            _previous = latest?.Plan;
            _lastEpoch = Math.Max(_lastEpoch, latest?.Epoch ?? 0);
            _placedSignature = null;
        }

        var adapters = (await registry.ListAsync(null, ct).ConfigureAwait(false))
            .ToDictionary(a => a.Id, a => new AdapterInfo(a.MaxRank, a.SizeBytes), StringComparer.Ordinal);
        var snapshot = await loadState.ReadSnapshotAsync(id => adapters.TryGetValue(id, out var info) ? info : null,
            options.Window, options.DemandWindows, rankBuckets: buckets.Boundaries).ConfigureAwait(false);
        var depths = await loadState.GetQueueDepthsAsync().ConfigureAwait(false);
        var signature = LoadSignature.From(snapshot, depths);
        var now = time.GetUtcNow();
        var decision = _drift.Evaluate(_placedSignature, _placedAt, signature, now);
        if (!decision.Place) return;
        if (snapshot.Workers.Count == 0)
        {
            logger.LogDebug("No live worker with operating points: nothing to place");
            return;
        }
        if (!snapshot.Adapters.Any(a => a.DemandTps > 0))
        {
            // Nothing to size a placement by (a fresh fleet, or a Redis that lost its data): a plan now would park
            // workers on no queue at all. The workers keep what they consume until demand is measured.
            logger.LogDebug("No measured demand: placement kept");
            return;
        }

        var previous = _previous ?? PlacementPlan.FromCurrentState(snapshot);
        var plan = _policy.Plan(snapshot, previous);
        var moves = plan.Moves ?? PlanDiff.Compute(previous, plan, snapshot.Adapters.Where(a => a.Id is not null)
            .ToDictionary(a => a.Id!, a => a.SizeBytes, StringComparer.Ordinal));
        if (await lease.NextEpochAsync(_lastEpoch).ConfigureAwait(false) is not { } epoch)
        {
            logger.LogWarning("Lease lost before publishing; placement dropped");
            return;
        }

        var inputs = new PlacementInputs(snapshot.Workers.Count, snapshot.Adapters.Count(a => !a.IsBase),
                                         snapshot.Adapters.Sum(a => a.DemandTps));
        await history.RecordAsync(new PlacementRecord(epoch, _policy.Name, Describe(decision), now, inputs, plan, moves), ct)
            .ConfigureAwait(false);
        foreach (var worker in plan.Workers)
        {
            await publisher.Publish(new PlacementCommand
            {
                Epoch = epoch,
                Worker = worker.Id,
                RankQueues = [.. worker.RankQueues],
                ServesBase = worker.ServesBase,
                Adapters = [.. worker.Adapters],
                Policy = _policy.Name,
                IssuedAt = now,
            }, ct).ConfigureAwait(false);
        }
        logger.LogInformation("Placement epoch {Epoch} ({Reason}): {Workers} workers, {Loads} adapter loads, {Queues} queue changes",
            epoch, Describe(decision), plan.Workers.Count, moves.AdapterLoads, moves.QueueChanges);
        _previous = plan;
        _lastEpoch = epoch;
        _placedSignature = signature;
        _placedAt = now;
    }

    private static string Describe(DriftDecision d) =>
        d.Detail.Length == 0 ? d.Reason.ToString() : $"{d.Reason}: {d.Detail}";
}
