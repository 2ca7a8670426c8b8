using LoRAQueue.Admission;
using LoRAQueue.Contracts;
using LoRAQueue.History;
using LoRAQueue.Messaging;
using LoRAQueue.Worker;
using LoRAQueue.Worker.DataPlane;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.InProcess;

public sealed class InProcessFleetOptions
{
    public required IAdapterRegistry Registry { get; init; }
    /// <summary>Where the recorder writes (and JobIntake records queued jobs).</summary>
    public IJobHistory History { get; init; } = new InMemoryJobHistory();
    /// <summary>Runs the history recorder on job-history, as the worker host does by default.</summary>
    public bool RecordHistory { get; init; } = true;
    /// <summary>Where log lines at or above <see cref="MinimumLevel"/> go; null: nowhere.</summary>
    public ILoggerProvider? Log { get; init; }
    public LogLevel MinimumLevel { get; init; } = LogLevel.Warning;
    /// <summary>
    /// Competing consumers: workers placed on the same rank queue share one endpoint (<see cref="SharedRankQueues"/>),
    /// as replicate-all needs. Off: each worker connects its own endpoints, so two workers must not share a queue.
    /// </summary>
    public bool ShareRankQueues { get; init; }
    /// <summary>The base model jobs are admitted against (<see cref="InProcessFleet.SubmitAsync"/>); null: the fleet submits none.</summary>
    public string? ModelPath { get; init; }
}

/// <summary>
/// A fleet of workers in one process, wired as in production but with nothing outside it: MassTransit on its in-memory
/// transport (LoRAQueue:Transport = inmemory), the given history and adapter registry, the history recorder, and one
/// <see cref="WorkerNode"/> per worker, each with its own engine. Jobs go <see cref="SubmitAsync"/> (JobIntake: admission, JobPublisher) →
/// rank queue → SubmitJobConsumer → engine → events → recorder → history. The demo, `bench placement` and the worker
/// tests all run on it.
/// </summary>
public sealed class InProcessFleet : IAsyncDisposable
{
    private static readonly TimeSpan DefaultDrain = TimeSpan.FromSeconds(10);

    private readonly ServiceProvider _services;
    private readonly InProcessFleetOptions _options;
    private readonly CancellationTokenSource _stopEngines = new();
    private readonly List<FleetWorker> _workers = [];
    private readonly List<HostReceiveEndpointHandle> _placementQueues = [];
    private readonly SharedRankQueues? _shared;
    private readonly LocalHolderDirectory _holders = new();

    private InProcessFleet(ServiceProvider services, InProcessFleetOptions options)
    {
        _services = services;
        _options = options;
        if (options.ShareRankQueues) _shared = new SharedRankQueues(Connector, Declarer);
    }

    public IJobHistory History => _options.History;
    public IAdapterRegistry Registry => _options.Registry;
    public IReadOnlyList<FleetWorker> Workers => _workers;

    /// <summary>How workers read each other's host caches: in memory (one process needs no UCX).</summary>
    public static string PeerTransport => "in-memory copy";

    /// <summary>Every adapter pull the fleet's workers made, by source.</summary>
    public AdapterPullTally Pulls { get; } = new();
    /// <summary>The fleet's bus, e.g. to publish placement commands to <see cref="ListenForPlacementAsync"/>.</summary>
    public IBus Bus => _services.GetRequiredService<IBus>();
    private IReceiveEndpointConnector Connector => _services.GetRequiredService<IReceiveEndpointConnector>();
    private IRankQueueDeclarer Declarer => _services.GetRequiredService<IRankQueueDeclarer>();

    public static async Task<InProcessFleet> StartAsync(InProcessFleetOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["LoRAQueue:Transport"] = "inmemory" }).Build();
        var services = new ServiceCollection();
        services.AddLogging(b =>
        {
            b.ClearProviders().SetMinimumLevel(options.MinimumLevel);
            if (options.Log is { } log) b.AddProvider(log);
        });
        services.AddSingleton(options.History);
        services.AddSingleton(options.Registry);
        services.AddLoRAQueueBus(configuration, x =>
        {
            if (options.RecordHistory) x.AddJobHistoryRecorder();
        });
        if (options.ModelPath is { } modelPath) services.AddJobIntake(modelPath, maxTokens: 4096);
        var fleet = new InProcessFleet(services.BuildServiceProvider(), options);
        try
        {
            await fleet._services.GetRequiredService<IBusControl>().StartAsync(ct);
            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }
    }

    /// <summary>Loads the worker's engine, starts its engine loop and consumes <see cref="WorkerSettings.RankQueues"/>.</summary>
    public async Task<FleetWorker> AddWorkerAsync(WorkerSettings settings, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var loggers = _services.GetRequiredService<ILoggerFactory>();
        var runtime = EngineRuntime.Load(settings);
        var node = new WorkerNode(settings, runtime, Registry, TimeProvider.System, loggers,
                                  stats => new LocalAdapterExchange(_holders, settings.Id, () => stats.InEngine));
        await node.StartServingAsync(ct);
        node.Adapters.Fetcher.Pulled += Pulls.Add;
        var endpoints = node.CreateEndpoints(Connector, Declarer);
        var applier = new PlacementApplier(settings, node.Adapters, endpoints, loggers.CreateLogger<PlacementApplier>());
        var worker = new FleetWorker(node, endpoints, applier, runtime.Engine.RunAsync(_stopEngines.Token));
        _workers.Add(worker);
        if (_shared is null)
        {
            await endpoints.ApplyAsync(settings.RankQueues, ct);
        }
        else
        {
            worker.SharedQueues = settings.RankQueues;
            if (settings.RankQueues.Count > 0) await ReconnectSharedAsync(ct);
        }
        return worker;
    }

    /// <summary>Submits a job as a .NET producer does, admitted by JobIntake and sent to its rank queue: the one place the
    /// fleet publishes jobs. Throws <see cref="JobRejectedException"/> for a job that breaks a rule.</summary>
    public Task<QueuedJob> SubmitAsync(SubmitJob job, CancellationToken ct) =>
        (_services.GetService<JobIntake>() ?? throw new InvalidOperationException("the fleet was started without a ModelPath: it admits no jobs"))
            .SubmitAsync(job, ct);

    /// <summary>Connects the worker's placement queue, so commands published on <see cref="Bus"/> reach its
    /// <see cref="FleetWorker.Placement"/> (what PlacementListener does in the worker host). Own rank queues only.</summary>
    public async Task ListenForPlacementAsync(FleetWorker worker, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(worker);
        if (_shared is not null) throw new InvalidOperationException("a fleet sharing rank queues applies placements with ApplyPlacementAsync");
        var handle = PlacementEndpoint.Connect(Connector, worker.Id, worker.Placement);
        _placementQueues.Add(handle);
        await handle.Ready.WaitAsync(ct);
    }

    /// <summary>
    /// Carries out one command per worker, as each worker carries out its PlacementCommand. Own rank queues: through the
    /// worker's <see cref="PlacementApplier"/>. Shared rank queues: <see cref="PlacementPlanner"/> decides, the adapters are
    /// loaded (a failure throws) and what the command drops is evicted, then the shared endpoints are connected anew.
    /// </summary>
    public async Task ApplyPlacementAsync(IReadOnlyList<PlacementCommand> commands, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(commands);
        foreach (var worker in _workers)
        {
            var command = commands.Single(c => c.Worker == worker.Id);
            if (_shared is null)
            {
                await worker.Placement.ApplyAsync(command, ct);
                continue;
            }
            var adapters = worker.Node.Adapters;
            var decision = PlacementPlanner.Plan(worker.Id, new WorkerPlacementState(0, [], adapters.Resident), command, adapters.InUse);
            foreach (var adapterId in decision.Load)
            {
                var lookup = await adapters.EnsureLoadedAsync(adapterId, ct);
                if (!lookup.Loaded) throw new InvalidOperationException($"{worker.Id} cannot load {adapterId}: {lookup.Problem}");
            }
            foreach (var adapterId in decision.Evict) adapters.Evict(adapterId);
            worker.SharedQueues = decision.Queues;
        }
        if (_shared is not null) await ReconnectSharedAsync(ct);
    }

    private async Task ReconnectSharedAsync(CancellationToken ct)
    {
        await _shared!.StopAllAsync(ct);
        var consumers = _workers.SelectMany(w => w.SharedQueues!.Distinct().Select(q => (Queue: q, Worker: w)))
            .GroupBy(x => Core.RankBuckets.QueueName(x.Queue))
            .ToDictionary(g => g.Key, g => (IReadOnlyList<FleetWorker>)[.. g.Select(x => x.Worker)]);
        await _shared.ConnectAsync(consumers, ct);
    }

    /// <summary>Stops as a worker host does: placement queues, then rank queues drain (in-flight jobs finish, up to the
    /// drain timeout, else they are abandoned), then the engines stop, the bus stops, and the runtimes go.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var handle in _placementQueues) await handle.StopAsync();
        if (_shared is not null)
        {
            using var drain = new CancellationTokenSource(_workers.Select(w => w.Node.Settings.DrainTimeout).DefaultIfEmpty(DefaultDrain).Max());
            try
            {
                await _shared.StopAllAsync(drain.Token);
            }
            catch (OperationCanceledException)
            {
                foreach (var worker in _workers) await worker.Node.Shutdown.AbandonAsync();
            }
        }
        else
        {
            foreach (var worker in _workers)
            {
                using var drain = new CancellationTokenSource(worker.Node.Settings.DrainTimeout);
                try
                {
                    await worker.Endpoints.StopAllAsync(drain.Token);
                }
                catch (OperationCanceledException)
                {
                    await worker.Node.Shutdown.AbandonAsync();
                }
            }
        }
        await StopEnginesAndBusAsync();
        foreach (var worker in _workers) await worker.Node.DisposeAsync();
    }

    private async Task StopEnginesAndBusAsync()
    {
        await _stopEngines.CancelAsync();
        var logger = _services.GetRequiredService<ILoggerFactory>().CreateLogger<InProcessFleet>();
        foreach (var worker in _workers)
        {
            try
            {
                await worker.EngineLoop;
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e)
            {
                logger.LogError("The engine of {Worker} failed: {Message}", worker.Id, e.Message);
            }
        }
        try
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _services.GetRequiredService<IBusControl>().StopAsync(stop.Token);
        }
        finally
        {
            foreach (var worker in _workers) worker.Node.Runtime.Dispose();
            await _services.DisposeAsync();
            _stopEngines.Dispose();
        }
    }
}
