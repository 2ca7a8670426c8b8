using LoRAQueue.Admission;
using LoRAQueue.Core;
using LoRAQueue.History;
using LoRAQueue.Messaging;
using LoRAQueue.Worker;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Cli.Demo;

/// <summary>One in-process demo worker: its parts, its rank-queue endpoints and its engine loop.</summary>
internal sealed record DemoWorker(WorkerNode Node, RankQueueEndpoints Endpoints, Task EngineLoop)
{
    public string Id => Node.Settings.Id;
    /// <summary>The rank queues it consumes, short: "base,8,16".</summary>
    public string Queues => string.Join(",", Node.Settings.RankQueues.Select(b => b?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "base"));
}

/// <summary>
/// The whole pipeline in one process, wired as in production but with nothing outside it: MassTransit on its
/// in-memory transport (LoRAQueue:Transport = inmemory), the in-memory job history and adapter registry, the history
/// recorder on <c>job-history</c>, and one <see cref="WorkerNode"/> per rank band, each with its own engine.
/// Jobs go JobPublisher → rank queue → SubmitJobConsumer → engine → events → recorder → history.
/// </summary>
internal sealed class DemoPipeline : IAsyncDisposable
{
    public const string Tenant = "demo";

    private readonly ServiceProvider _services;
    private readonly CancellationTokenSource _stopEngines = new();
    private readonly List<DemoWorker> _workers = [];

    private DemoPipeline(ServiceProvider services, JobTracker history, IAdapterRegistry registry)
    {
        _services = services;
        History = history;
        Registry = registry;
    }

    public JobTracker History { get; }
    public IAdapterRegistry Registry { get; }
    public IReadOnlyList<DemoWorker> Workers => _workers;
    public JobIntake Intake => _services.GetRequiredService<JobIntake>();

    public static async Task<DemoPipeline> StartAsync(DemoAssets assets, IReadOnlyList<IReadOnlyList<int?>> bands, string kernel,
                                                      CapturedLog log, CancellationToken ct)
    {
        var validator = AdapterValidator.ForModelDirectory(assets.AdapterStorePath, assets.ModelPath, RankBuckets.Default);
        var registry = new InMemoryAdapterRegistry(validator);
        foreach (var adapter in assets.Adapters) await registry.RegisterAsync(adapter.Id, Tenant, ct);
        var history = new JobTracker(new InMemoryJobHistory());

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LoRAQueue:Transport"] = "inmemory",
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging(b => b.ClearProviders().AddProvider(log).SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<IJobHistory>(history);
        services.AddSingleton<IAdapterRegistry>(registry);
        services.AddLoRAQueueBus(configuration, x => x.AddJobHistoryRecorder());
        services.AddJobIntake(assets.ModelPath, 4096);
        var provider = services.BuildServiceProvider();
        var pipeline = new DemoPipeline(provider, history, registry);
        try
        {
            await provider.GetRequiredService<IBusControl>().StartAsync(ct);
            for (int i = 0; i < bands.Count; i++) await pipeline.AddWorkerAsync($"worker-{i + 1}", bands[i], assets, kernel, ct);
            return pipeline;
        }
        catch
        {
            await pipeline.DisposeAsync();
            throw;
        }
    }

    private async Task AddWorkerAsync(string id, IReadOnlyList<int?> queues, DemoAssets assets, string kernel, CancellationToken ct)
    {
        var settings = new WorkerSettings
        {
            Id = id,
            ModelPath = assets.ModelPath,
            AdapterStorePath = assets.AdapterStorePath,
            RankQueues = queues,
            Kernel = kernel,
            KvCacheMb = 32,
            DrainTimeout = TimeSpan.FromSeconds(10),
        };
        var runtime = EngineRuntime.Load(settings);
        var node = new WorkerNode(settings, runtime, Registry, TimeProvider.System, _services.GetRequiredService<ILoggerFactory>());
        var endpoints = node.CreateEndpoints(_services.GetRequiredService<IReceiveEndpointConnector>(),
                                             _services.GetRequiredService<IRankQueueDeclarer>());
        _workers.Add(new DemoWorker(node, endpoints, runtime.Engine.RunAsync(_stopEngines.Token)));
        await endpoints.ApplyAsync(queues, ct);
    }

    /// <summary>Stops as a worker host does: endpoints drain (in-flight jobs finish, up to the drain timeout), then the
    /// engines and the bus stop.</summary>
    public async ValueTask DisposeAsync()
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
        await InProcessShutdown.StopEnginesAndBusAsync([.. _workers.Select(w => (w.Node, w.EngineLoop))], _stopEngines, _services);
    }
}
