using System.Collections.Concurrent;
using LoRAQueue.Cli.Demo;
using LoRAQueue.Contracts;
using LoRAQueue.Admission;
using LoRAQueue.Core;
using LoRAQueue.Core.Placement;
using LoRAQueue.History;
using LoRAQueue.Messaging;
using LoRAQueue.Worker;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Cli.Bench;

/// <summary>One benchmark worker: the real worker parts (engine, adapter cache, consumer), the rank queues its placement
/// gave it (null = lora-base), its engine loop.</summary>
internal sealed record BenchWorker(WorkerNode Node, Task EngineLoop)
{
    public string Id => Node.Settings.Id;
    public IReadOnlyList<int?> Queues { get; set; } = [];
}

/// <summary>
/// The history the benchmark's recorder writes to: the in-memory history, plus every JobCompleted/JobFailed event kept
/// and counted per job, so that a run can prove each job finished exactly once and compute its latencies.
/// </summary>
internal sealed class RunRecorder : IJobHistory
{
    private readonly InMemoryJobHistory _inner = new();
    private readonly ConcurrentDictionary<Guid, int> _terminalEvents = new();
    private readonly ConcurrentQueue<JobCompleted> _completed = new();
    private readonly ConcurrentQueue<JobFailed> _failed = new();

    /// <summary>Jobs with at least one terminal event.</summary>
    public int Finished => _terminalEvents.Count;
    public IReadOnlyCollection<JobCompleted> Completed => _completed;
    public IReadOnlyCollection<JobFailed> Failed => _failed;
    /// <summary>Terminal events beyond the first of their job: 0 when every job finished exactly once.</summary>
    public int Duplicates => _terminalEvents.Values.Sum(n => n - 1);

    public Task RecordQueuedAsync(IReadOnlyList<QueuedJobRecord> jobs, CancellationToken ct) => _inner.RecordQueuedAsync(jobs, ct);

    public Task RecordStartedAsync(JobStarted e, CancellationToken ct) => _inner.RecordStartedAsync(e, ct);

    public async Task RecordCompletedAsync(JobCompleted e, CancellationToken ct)
    {
        await _inner.RecordCompletedAsync(e, ct);
        _completed.Enqueue(e);
        _terminalEvents.AddOrUpdate(e.JobId, 1, (_, n) => n + 1);
    }

    public async Task RecordFailedAsync(JobFailed e, CancellationToken ct)
    {
        await _inner.RecordFailedAsync(e, ct);
        _failed.Enqueue(e);
        _terminalEvents.AddOrUpdate(e.JobId, 1, (_, n) => n + 1);
    }

    public Task<JobRecord?> GetAsync(Guid jobId, CancellationToken ct) => _inner.GetAsync(jobId, ct);

    public Task<JobPage> ListAsync(JobQuery q, CancellationToken ct) => _inner.ListAsync(q, ct);
}

/// <summary>
/// One run's system, wired as the demo's (<see cref="DemoPipeline"/>): MassTransit's in-memory transport, the real
/// JobPublisher and rank queues, the history recorder, and N <see cref="WorkerNode"/>s with their own engines and
/// <see cref="SubmitJobConsumer"/>s. Workers start consuming nothing; <see cref="ApplyPlacementAsync"/> gives them
/// their adapters and queues (through <see cref="SharedRankQueues"/>: why, see there). Every run builds a fresh one,
/// so no state carries over between runs.
/// </summary>
internal sealed class BenchPipeline : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly CancellationTokenSource _stopEngines = new();
    private readonly List<BenchWorker> _workers = [];

    private BenchPipeline(ServiceProvider services, RunRecorder recorder)
    {
        _services = services;
        Recorder = recorder;
        _queues = new SharedRankQueues(services.GetRequiredService<IReceiveEndpointConnector>(), services.GetRequiredService<IRankQueueDeclarer>());
    }

    private readonly SharedRankQueues _queues;

    public RunRecorder Recorder { get; }
    public IReadOnlyList<BenchWorker> Workers => _workers;
    public JobIntake Intake => _services.GetRequiredService<JobIntake>();

    public static async Task<BenchPipeline> StartAsync(DemoAssets assets, int workers, string kernel, int maxSequences,
                                                       CapturedLog log, CancellationToken ct)
    {
        var validator = AdapterValidator.ForModelDirectory(assets.AdapterStorePath, assets.ModelPath, RankBuckets.Default);
        var registry = new InMemoryAdapterRegistry(validator);
        foreach (var adapter in assets.Adapters) await registry.RegisterAsync(adapter.Id, BenchWorkload.Tenant, ct);
        var recorder = new RunRecorder();
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["LoRAQueue:Transport"] = "inmemory" }).Build();
        var services = new ServiceCollection();
        services.AddLogging(b => b.ClearProviders().AddProvider(log).SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<IJobHistory>(recorder);
        services.AddSingleton<IAdapterRegistry>(registry);
        services.AddLoRAQueueBus(configuration, x => x.AddJobHistoryRecorder());
        services.AddJobIntake(assets.ModelPath, 4096);
        var provider = services.BuildServiceProvider();
        var pipeline = new BenchPipeline(provider, recorder);
        try
        {
            await provider.GetRequiredService<IBusControl>().StartAsync(ct);
            for (int i = 0; i < workers; i++) pipeline.AddWorker($"worker-{i + 1}", assets, kernel, maxSequences, registry);
            return pipeline;
        }
        catch
        {
            await pipeline.DisposeAsync();
            throw;
        }
    }

    private void AddWorker(string id, DemoAssets assets, string kernel, int maxSequences, IAdapterRegistry registry)
    {
        var settings = new WorkerSettings
        {
            Id = id,
            ModelPath = assets.ModelPath,
            AdapterStorePath = assets.AdapterStorePath,
            RankQueues = [],
            Kernel = kernel,
            MaxSequences = maxSequences,
            KvCacheMb = 32,
            MaxResidentAdapters = Math.Max(32, assets.Adapters.Count),
            DrainTimeout = TimeSpan.FromSeconds(10),
        };
        var runtime = EngineRuntime.Load(settings);
        var loggers = _services.GetRequiredService<ILoggerFactory>();
        var node = new WorkerNode(settings, runtime, registry, TimeProvider.System, loggers);
        _workers.Add(new BenchWorker(node, runtime.Engine.RunAsync(_stopEngines.Token)));
    }

    /// <summary>
    /// Carries out a plan as the scheduler and each worker would: the diff from what the workers hold now
    /// (<see cref="PlacementStep.ChangesOf"/>), each worker's PlacementCommand read by <see cref="PlacementPlanner"/>
    /// (adapters loaded before any queue is consumed, what the plan drops evicted), then the rank queues connected.
    /// </summary>
    public async Task ApplyPlacementAsync(PlacementPlan plan, CancellationToken ct)
    {
        var running = new PlacementPlan
        {
            Policy = "running",
            Workers = [.. _workers.Select(w => new WorkerPlacement { Id = w.Id, Adapters = [.. w.Node.Adapters.Resident.Order(StringComparer.Ordinal)] })],
        };
        var changes = PlacementStep.ChangesOf(plan, PlanDiff.Compute(running, plan), new Dictionary<string, long>());
        foreach (var worker in _workers)
        {
            var command = LoRAQueue.Scheduler.WorkerCommands.Of(changes.Single(c => c.Worker == worker.Id), 1, plan.Policy, DateTimeOffset.UtcNow);
            var decision = PlacementPlanner.Plan(worker.Id, new WorkerPlacementState(0, [], worker.Node.Adapters.Resident), command,
                                                 worker.Node.Adapters.InUse);
            if (!decision.Apply) throw new InvalidOperationException($"{worker.Id} refused the plan: {decision.Reason}");
            foreach (var adapterId in decision.Load)
            {
                var lookup = await worker.Node.Adapters.EnsureLoadedAsync(adapterId, ct);
                if (!lookup.Loaded) throw new InvalidOperationException($"{worker.Id} cannot load {adapterId}: {lookup.Problem}");
            }
            foreach (var adapterId in decision.Evict) worker.Node.Adapters.Evict(adapterId);
            worker.Queues = decision.Queues;
        }
        var consumers = _workers.SelectMany(w => w.Queues.Select(q => (Queue: q, Worker: w)))
            .GroupBy(x => RankBuckets.QueueName(x.Queue)).ToDictionary(g => g.Key, g => (IReadOnlyList<BenchWorker>)[.. g.Select(x => x.Worker)]);
        await _queues.ConnectAsync(consumers, ct);
    }

    /// <summary>Stops as a worker host does: endpoints drain, then the engines and the bus stop.</summary>
    public async ValueTask DisposeAsync()
    {
        using (var drain = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            try
            {
                await _queues.StopAllAsync(drain.Token);
            }
            catch (OperationCanceledException)
            {
                foreach (var worker in _workers) await worker.Node.Shutdown.AbandonAsync();
            }
        }
        await InProcessShutdown.StopEnginesAndBusAsync([.. _workers.Select(w => (w.Node, w.EngineLoop))], _stopEngines, _services);
    }
}
