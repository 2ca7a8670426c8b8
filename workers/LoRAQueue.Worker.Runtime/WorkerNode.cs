using LoRAQueue.History;
using LoRAQueue.Messaging;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>
/// One worker's long-lived parts around its engine: adapter cache, counters, the shutdown signal, and
/// the consumer each rank-queue message gets. The worker host has one per process (through DI); the CLI's embedded
/// demo runs several side by side on one bus, each with its own engine and its own rank queues.
/// </summary>
public sealed class WorkerNode
{
    private readonly TimeProvider _clock;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<SubmitJobConsumer> _consumerLogger;

    public WorkerNode(WorkerSettings settings, EngineRuntime runtime, IAdapterRegistry registry, TimeProvider clock, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(runtime);
        ArgumentNullException.ThrowIfNull(registry);
        Settings = settings;
        Runtime = runtime;
        _clock = clock ?? TimeProvider.System;
        _loggers = loggers ?? throw new ArgumentNullException(nameof(loggers));
        _consumerLogger = loggers.CreateLogger<SubmitJobConsumer>();
        Adapters = new AdapterCache(runtime, registry, settings, loggers.CreateLogger<AdapterCache>());
    }

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
