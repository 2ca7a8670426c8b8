using System.Threading.Channels;
using LoRAQueue.LoadState;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>
/// The worker's side of the Redis load state: every LoadReportInterval a heartbeat (capacity, memory free, resident
/// adapters, rank buckets, applied epoch), the token demand of the jobs completed since the last tick (per adapter,
/// prompt + output tokens; jobs whose producer recorded their demand at admission are not counted again) and its operating points (<see cref="OperatingPointEstimator"/>, after a start-up
/// calibration); a heartbeat at once when a placement epoch was applied. Redis being unreachable never stops
/// the worker: it keeps its last placement, logs a warning and tries again on the next tick, with the demand of the
/// missed ticks kept until it is written.
/// </summary>
public sealed class RedisWorkerReporter : BackgroundService
{
    private readonly WorkerNode _node;
    private readonly RankQueueEndpoints _endpoints;
    private readonly PlacementApplier _placement;
    private readonly RedisLoadState _state;
    private readonly TimeProvider _clock;
    private readonly ILogger<RedisWorkerReporter> _logger;
    private readonly Channel<CompletedJobSample> _completed =
        Channel.CreateBounded<CompletedJobSample>(new BoundedChannelOptions(100_000) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly Dictionary<string, double> _pendingDemand = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _reportNow = new(0);
    private bool _redisDown;

    public RedisWorkerReporter(WorkerNode node, RankQueueEndpoints endpoints, PlacementApplier placement, RedisLoadState state,
                               TimeProvider clock, ILogger<RedisWorkerReporter> logger)
    {
        (_node, _endpoints, _placement, _state, _clock, _logger) = (node, endpoints, placement, state, clock, logger);
        node.Stats.JobCompleted += sample => _completed.Writer.TryWrite(sample);
        // A new epoch is reported at once: the scheduler counts a worker behind until its heartbeat shows the epoch.
        placement.Applied += _ =>
        {
            _reportNow.Release();
            return Task.CompletedTask;
        };
    }

    private const string BaseKey = "";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = _node.Settings;
        var runtime = _node.Runtime;
        double baseTps;
        try
        {
            baseTps = await EngineCalibration.CalibrateAsync(runtime, settings.MaxSequences, stoppingToken,
                warning => _logger.LogWarning("{Warning}", warning));
        }
        catch (Exception) when (stoppingToken.IsCancellationRequested)
        {
            return; // stopped during start-up: the engine may already refuse work, and there is nothing to report
        }
        _logger.LogInformation("Calibrated base decode throughput at batch {Batch}: {Tps:F1} tokens/s", settings.MaxSequences, baseTps);
        var buckets = settings.RankQueues.OfType<int>().Union(_endpoints.ConnectedBuckets.OfType<int>());
        var estimator = new OperatingPointEstimator(baseTps, settings.MaxSequences, buckets);

        using var timer = new PeriodicTimer(settings.LoadReportInterval, _clock);
        Task<bool>? tick = null;
        Task? applied = null;
        while (true)
        {
            int largestServed = _endpoints.ConnectedBuckets.OfType<int>().DefaultIfEmpty(0).Max();
            while (_completed.Reader.TryRead(out var sample))
            {
                estimator.Observe(largestServed, sample.TimePerOutputToken, sample.JobsInEngine);
                if (sample.DemandRecorded) continue; // the gateway counted it when it admitted the job
                var key = sample.AdapterId ?? BaseKey;
                _pendingDemand[key] = _pendingDemand.GetValueOrDefault(key) + sample.PromptTokens + sample.OutputTokens;
            }
            await ReportAsync(estimator, largestServed);

            tick ??= timer.WaitForNextTickAsync(stoppingToken).AsTask();
            applied ??= _reportNow.WaitAsync(stoppingToken);
            if (await Task.WhenAny(tick, applied).ConfigureAwait(false) == applied)
            {
                await applied.ConfigureAwait(false);
                applied = null;
            }
            else
            {
                if (!await tick.ConfigureAwait(false)) break;
                tick = null;
            }
        }
    }

    /// <summary>A clean stop takes the worker out of the load state at once rather than at heartbeat expiry.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await _state.RemoveWorkerAsync(_node.Settings.Id);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            _logger.LogWarning("Could not remove worker {Worker} from Redis; its heartbeat expires on its own: {Message}", _node.Settings.Id, e.Message);
        }
    }

    private async Task ReportAsync(OperatingPointEstimator estimator, int largestServed)
    {
        var settings = _node.Settings;
        try
        {
            var buckets = _endpoints.ConnectedBuckets;
            await _state.WriteHeartbeatAsync(new WorkerHeartbeat
            {
                Worker = settings.Id,
                CapacityTps = estimator.At(largestServed),
                MemoryFreeBytes = MemoryFreeBytes(),
                ResidentAdapters = _node.Adapters.Resident,
                RankBuckets = [.. buckets.OfType<int>().Order()],
                ServesBase = buckets.Contains(null),
                Epoch = _placement.Epoch,
                JobsInEngine = _node.Stats.InEngine,
                At = _clock.GetUtcNow(),
            });
            var now = _clock.GetUtcNow();
            foreach (var (adapter, tokens) in _pendingDemand.ToList())
            {
                await _state.RecordDemandAsync(adapter == BaseKey ? null : adapter, tokens, now);
                _pendingDemand.Remove(adapter);
            }
            await _state.SetOperatingPointsAsync(settings.Id, estimator.Points());
            if (_redisDown) _logger.LogInformation("Redis is reachable again; load state reported");
            _redisDown = false;
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            if (!_redisDown) _logger.LogWarning("Redis is unreachable; serving with the last placement and retrying: {Message}", e.Message);
            _redisDown = true;
        }
    }

    /// <summary>Memory left for more adapters: what the GC may still take (container limit or physical memory) minus the
    /// process's working set, which already holds the weights, the KV cache and the resident adapters.</summary>
    private static long MemoryFreeBytes() =>
        Math.Max(0, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - Environment.WorkingSet);
}
