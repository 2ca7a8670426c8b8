using Dapper;
using LoRAQueue.Contracts;
using LoRAQueue.Core.Placement;
using LoRAQueue.LoadState;
using LoRAQueue.Messaging;
using Npgsql;
using Prometheus;

namespace LoRAQueue.Gateway.Operations;

/// <summary>
/// What GET /metrics shows, in the gateway's own registry (one per app, so several gateways in one process do not mix):
/// <list type="bullet">
/// <item>gauges read at scrape time: <c>loraqueue_jobs{status,rank_bucket}</c> (Postgres job history, all tenants) and
/// <c>loraqueue_queue_depth{queue}</c> (ready messages per rank queue, RabbitMQ passive declares);
/// <c>loraqueue_placement_epoch</c> (the latest placement, Postgres), <c>loraqueue_worker_placement_epoch{worker}</c> (the
/// epoch each live worker's heartbeat says it applied, Redis) and <c>loraqueue_workers_behind_placement</c> (how many are
/// on an older one: a worker that stays there missed or refused its command);
/// <c>loraqueue_metrics_source_up{source}</c> says whether each source answered this scrape;</item>
/// <item>histograms observed by <see cref="GatewayMetricsConsumer"/> from JobCompleted on queue gateway-metrics:
/// <c>loraqueue_job_queue_seconds</c>, <c>loraqueue_job_ttft_seconds</c>, <c>loraqueue_job_total_seconds</c> by rank_bucket,
/// and <c>loraqueue_jobs_finished_total{outcome,rank_bucket}</c>; <c>loraqueue_job_adapter_load_seconds{source}</c>, how long
/// a job waited for its adapter by where the bytes were (JobCompleted.AdapterLoad: active, host, peer, store; base-model
/// jobs are not observed);</item>
/// <item>adapter pulls, from the workers' AdapterPulled and AdapterPullFailed on the same queue:
/// <c>loraqueue_adapter_pulls_total{source}</c>, <c>loraqueue_adapter_pull_bytes_total{source}</c> and the histogram
/// <c>loraqueue_adapter_pull_seconds{source}</c> (source peer or store); <c>loraqueue_adapter_pull_skips_total{reason}</c>, one
/// per source passed over in a pull, failed or not (timeout, digest_mismatch, unreachable, error); and
/// <c>loraqueue_adapter_pull_failures_total{reason}</c> (store_mismatch, store_missing, store_error, abandoned). The sources
/// and reasons listed are there from the start, at 0; another value a worker sends gets its own series.
/// Gateway replicas compete on that queue, so each event is counted once across the fleet: sum the series over
/// instances;</item>
/// <item><c>loraqueue_gateway_rejections_total{code}</c>: requests refused with a problem, by its code; and prometheus-net's
/// HTTP request metrics.</item>
/// </list>
/// </summary>
public sealed class GatewayMetrics
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly IQueueDepthReader _queueDepths;
    private readonly ILogger<GatewayMetrics> _logger;
    private readonly RedisLoadState? _loadState;
    private readonly Gauge _jobs, _queueDepth, _sourceUp, _placementEpoch, _workerEpoch, _workersBehind;
    private readonly HashSet<string> _workerLabels = [];
    private readonly HashSet<(string Status, string Bucket)> _jobLabels = [];
    private readonly HashSet<string> _queueLabels = [];
    private readonly Counter _rejections, _finished, _pulls, _pullBytes, _pullSkips, _pullFailures;

    /// <summary>Where a pull's bytes came from (AdapterPulled.Source).</summary>
    public static readonly IReadOnlyList<string> PullSources = ["peer", "store"];

    /// <summary>Why a source was passed over (AdapterPullSkip.Reason).</summary>
    public static readonly IReadOnlyList<string> PullSkipReasons = ["timeout", "digest_mismatch", "unreachable", "error"];

    /// <summary>Why a pull failed (AdapterPullFailed.Reason).</summary>
    public static readonly IReadOnlyList<string> PullFailureReasons = ["store_mismatch", "store_missing", "store_error", "abandoned"];

    /// <param name="loadState">Null without Redis: no worker epochs then.</param>
    public GatewayMetrics(NpgsqlDataSource dataSource, IQueueDepthReader queueDepths, ILogger<GatewayMetrics> logger, RedisLoadState? loadState = null)
    {
        _dataSource = dataSource;
        _loadState = loadState;
        _queueDepths = queueDepths;
        _logger = logger;
        Registry = Metrics.NewCustomRegistry();
        Factory = Metrics.WithCustomRegistry(Registry);
        _jobs = Factory.CreateGauge("loraqueue_jobs", "Jobs in the history by status and rank bucket (read from Postgres at scrape time)",
                                    ["status", "rank_bucket"]);
        _queueDepth = Factory.CreateGauge("loraqueue_queue_depth", "Ready messages in each rank queue (read from RabbitMQ at scrape time)", ["queue"]);
        _placementEpoch = Factory.CreateGauge("loraqueue_placement_epoch", "Epoch of the latest placement the scheduler recorded (0 = none)");
        _workerEpoch = Factory.CreateGauge("loraqueue_worker_placement_epoch", "Placement epoch each live worker reports applied", ["worker"]);
        _workersBehind = Factory.CreateGauge("loraqueue_workers_behind_placement", "Live workers whose applied epoch is older than the latest placement");
        _sourceUp = Factory.CreateGauge("loraqueue_metrics_source_up", "1 when the source answered during this scrape, else 0", ["source"]);
        QueueSeconds = Histogram("loraqueue_job_queue_seconds", "Submitted → picked up by a worker", 0.01, 20);
        TtftSeconds = Histogram("loraqueue_job_ttft_seconds", "Engine submit → first output token", 0.005, 16);
        TotalSeconds = Histogram("loraqueue_job_total_seconds", "Submitted → completed", 0.05, 18);
        _finished = Factory.CreateCounter("loraqueue_jobs_finished_total", "Jobs that completed or failed, seen on the gateway-metrics queue",
                                          ["outcome", "rank_bucket"]);
        AdapterLoadSeconds = Histogram("loraqueue_job_adapter_load_seconds",
            "How long a job waited for its adapter, by where its bytes were (active, host, peer, store)", 0.001, 17, "source");
        _pulls = Factory.CreateCounter("loraqueue_adapter_pulls_total", "Adapter pulls into a worker's host cache, by where the bytes came from",
                                       ["source"]);
        _pullBytes = Factory.CreateCounter("loraqueue_adapter_pull_bytes_total", "Bytes pulled into workers' host caches, by where they came from",
                                           ["source"]);
        PullSeconds = Histogram("loraqueue_adapter_pull_seconds", "How long an adapter pull took, by where the bytes came from", 0.001, 17, "source");
        _pullSkips = Factory.CreateCounter("loraqueue_adapter_pull_skips_total", "Sources an adapter pull passed over, by why", ["reason"]);
        _pullFailures = Factory.CreateCounter("loraqueue_adapter_pull_failures_total",
                                              "Adapter pulls no source could serve (the jobs that needed them failed), by why", ["reason"]);
        foreach (var source in AdapterLoad.Sources) AdapterLoadSeconds.WithLabels(source);
        foreach (var source in PullSources)
        {
            _pulls.WithLabels(source);
            _pullBytes.WithLabels(source);
            PullSeconds.WithLabels(source);
        }
        foreach (var reason in PullSkipReasons) _pullSkips.WithLabels(reason);
        foreach (var reason in PullFailureReasons) _pullFailures.WithLabels(reason);
        _rejections = Factory.CreateCounter("loraqueue_gateway_rejections_total", "Requests the gateway refused, by problem code", ["code"]);
        Registry.AddBeforeCollectCallback(RefreshAsync);
    }

    public CollectorRegistry Registry { get; }
    public IMetricFactory Factory { get; }
    public Histogram QueueSeconds { get; }
    public Histogram TtftSeconds { get; }
    public Histogram TotalSeconds { get; }
    public Histogram AdapterLoadSeconds { get; }
    public Histogram PullSeconds { get; }

    public static string BucketLabel(int? rankBucket) => rankBucket is { } b ? b.ToString(System.Globalization.CultureInfo.InvariantCulture) : "base";

    public void Rejected(string code) => _rejections.WithLabels(code).Inc();

    public void Finished(string outcome, int? rankBucket) => _finished.WithLabels(outcome, BucketLabel(rankBucket)).Inc();

    /// <summary>A job's wait for its adapter (JobCompleted.AdapterLoad).</summary>
    public void AdapterLoaded(AdapterLoad load) => AdapterLoadSeconds.WithLabels(Label(load.Source)).Observe(load.Ms / 1000);

    public void Pulled(AdapterPulled e)
    {
        string source = Label(e.Source);
        _pulls.WithLabels(source).Inc();
        _pullBytes.WithLabels(source).Inc(Math.Max(0, e.Bytes));
        PullSeconds.WithLabels(source).Observe(e.Ms / 1000);
        Skipped(e.Skipped);
    }

    public void PullFailed(AdapterPullFailed e)
    {
        _pullFailures.WithLabels(Label(e.Reason)).Inc();
        Skipped(e.Skipped);
    }

    private void Skipped(IReadOnlyList<AdapterPullSkip>? skipped)
    {
        foreach (var skip in skipped ?? []) _pullSkips.WithLabels(Label(skip?.Reason)).Inc();
    }

    /// <summary>A label value as the worker sent it; "unknown" when it sent none.</summary>
    private static string Label(string? value) => string.IsNullOrEmpty(value) ? "unknown" : value;

    private Histogram Histogram(string name, string help, double start, int count, string label = "rank_bucket") =>
        Factory.CreateHistogram(name, help, new HistogramConfiguration
        {
            LabelNames = [label],
            Buckets = Prometheus.Histogram.ExponentialBuckets(start, 2, count),
        });

    private async Task RefreshAsync(CancellationToken ct)
    {
        var latestEpoch = await RefreshFromPostgresAsync(ct);
        await RefreshQueuesAsync(ct);
        if (latestEpoch is { } latest) await RefreshWorkerEpochsAsync(latest);
    }

    private async Task RefreshWorkerEpochsAsync(long latest)
    {
        if (_loadState is null) return;
        try
        {
            var workers = await _loadState.GetLiveWorkersAsync();
            foreach (var hb in workers) _workerEpoch.WithLabels(hb.Worker).Set(hb.Epoch);
            var live = workers.Select(w => w.Worker).ToHashSet(StringComparer.Ordinal);
            foreach (var gone in _workerLabels.Except(live)) _workerEpoch.RemoveLabelled(gone);
            _workerLabels.Clear();
            _workerLabels.UnionWith(live);
            _workersBehind.Set(PlacementLag.Behind(latest, workers.Select(w => (w.Worker, (long?)w.Epoch))).Count);
            _sourceUp.WithLabels("redis").Set(1);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            _logger.LogWarning("Metrics: worker epochs not read from Redis: {Message}", e.Message);
            _sourceUp.WithLabels("redis").Set(0);
        }
    }

    /// <summary>Job counts and the latest placement epoch, in one round trip; the epoch, or null when Postgres did not answer.</summary>
    private async Task<long?> RefreshFromPostgresAsync(CancellationToken ct)
    {
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(ct);
            await using var results = await connection.QueryMultipleAsync(new CommandDefinition(
                "SELECT status, rank_bucket, count(*) FROM jobs GROUP BY status, rank_bucket; SELECT coalesce(max(epoch), 0) FROM placements",
                cancellationToken: ct));
            var rows = await results.ReadAsync<(string Status, int? RankBucket, long Count)>();
            long latest = await results.ReadSingleAsync<long>();
            var seen = new HashSet<(string Status, string Bucket)>();
            foreach (var (status, bucket, count) in rows)
            {
                var labels = (Status: status, Bucket: BucketLabel(bucket));
                seen.Add(labels);
                _jobs.WithLabels(labels.Status, labels.Bucket).Set(count);
            }
            foreach (var stale in _jobLabels.Except(seen)) _jobs.RemoveLabelled(stale.Status, stale.Bucket);
            _jobLabels.Clear();
            _jobLabels.UnionWith(seen);
            _placementEpoch.Set(latest);
            _sourceUp.WithLabels("postgres").Set(1);
            return latest;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            _logger.LogWarning("Metrics: job counts and the latest placement not read from Postgres: {Message}", e.Message);
            _sourceUp.WithLabels("postgres").Set(0);
            return null;
        }
    }

    private async Task RefreshQueuesAsync(CancellationToken ct)
    {
        try
        {
            var depths = await _queueDepths.ReadAsync(ct);
            foreach (var (queue, depth) in depths) _queueDepth.WithLabels(queue).Set(depth);
            foreach (var stale in _queueLabels.Except(depths.Keys)) _queueDepth.RemoveLabelled(stale);
            _queueLabels.Clear();
            _queueLabels.UnionWith(depths.Keys);
            _sourceUp.WithLabels("rabbitmq").Set(1);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning("Metrics: queue depths not read from the broker: {Message}", e.Message);
            _sourceUp.WithLabels("rabbitmq").Set(0);
        }
    }
}
