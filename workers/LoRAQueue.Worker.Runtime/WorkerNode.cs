using LoRAQueue.History;
using LoRAQueue.Messaging;
using LoRAQueue.Worker.DataPlane;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>
/// One worker's long-lived parts around its engine: adapter tiers (engine, host cache) and how it reaches peers,
/// counters, the shutdown signal, and the consumer each rank-queue message gets. The worker host has one per process (through DI); the CLI's embedded
/// demo runs several side by side on one bus, each with its own engine and its own rank queues.
/// </summary>
public sealed class WorkerNode : IAsyncDisposable, IDisposable
{
    private readonly TimeProvider _clock;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<SubmitJobConsumer> _consumerLogger;

    /// <param name="exchange">How this worker reaches peers' host caches: made from the node's job counter (peers pick the
    /// least busy holder); null: none, the store only.</param>
    public WorkerNode(WorkerSettings settings, EngineRuntime runtime, IAdapterRegistry registry, TimeProvider clock, ILoggerFactory loggers,
                      Func<WorkerStats, IAdapterExchange>? exchange = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(runtime);
        ArgumentNullException.ThrowIfNull(registry);
        Settings = settings;
        Runtime = runtime;
        _clock = clock ?? TimeProvider.System;
        _loggers = loggers ?? throw new ArgumentNullException(nameof(loggers));
        _consumerLogger = loggers.CreateLogger<SubmitJobConsumer>();
        HostCache = new HostCache(settings.HostCacheBytes);
        Exchange = exchange?.Invoke(Stats) ?? new NoPeers("no peers configured");
        var fetcher = new AdapterFetcher(HostCache, Exchange, settings, loggers.CreateLogger<AdapterFetcher>());
        Adapters = new AdapterCache(runtime, registry, settings, fetcher, loggers.CreateLogger<AdapterCache>());
    }

    public HostCache HostCache { get; }
    public IAdapterExchange Exchange { get; }

    /// <summary>Stops serving peers, then frees the host cache (after the engine stopped: nothing reads it any more).</summary>
    public async ValueTask DisposeAsync()
    {
        await Exchange.DisposeAsync();
        HostCache.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Registers the host cache with the exchange, so peers can read it; before the first job.</summary>
    public Task StartServingAsync(CancellationToken ct) => Exchange.ServeAsync(HostCache, ct);

    public WorkerSettings Settings { get; }
    public EngineRuntime Runtime { get; }
    public AdapterCache Adapters { get; }
    public WorkerStats Stats { get; } = new();

    public WorkerShutdown Shutdown { get; } = new();

    /// <summary>A consumer for one message (it holds no state of its own; everything it shares lives here).</summary>
    public SubmitJobConsumer CreateConsumer() =>
        new(Runtime, Adapters, Settings, Stats, Shutdown, _clock, _consumerLogger);

    /// <summary>The rank-queue endpoints of this worker on <paramref name="connector"/>'s bus; none is connected until ApplyAsync.</summary>
    public RankQueueEndpoints CreateEndpoints(IReceiveEndpointConnector connector, IRankQueueDeclarer declarer) =>
        new(connector, declarer, Settings, CreateConsumer, _loggers.CreateLogger<RankQueueEndpoints>());
}
