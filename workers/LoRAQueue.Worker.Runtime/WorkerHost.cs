using LoRAQueue.Hosting;
using LoRAQueue.Hosting.Tracing;
using LoRAQueue.History;
using LoRAQueue.LoadState;
using LoRAQueue.Messaging;
using LoRAQueue.Worker.DataPlane;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>
/// The worker as a Generic Host, for the worker executable and <c>loraqueue serve worker</c>. Configuration: appsettings.json,
/// env LORAQUEUE__SECTION__KEY, or --LoRAQueue:Section:Key=value (and the short forms --backend cpu|emulated, --profile a100|FILE).
/// </summary>
public static class WorkerHost
{
    /// <summary>Exit codes: 0 stopped cleanly, 1 failed while running, 2 could not start (the reason is logged).</summary>
    public static Task<int> RunAsync(string[] args, CancellationToken ct = default) =>
        HostRunner.RunAsync("LoRAQueue.Worker", logger => Build(args, logger), ct);

    /// <summary>Short forms of the worker's command line: --backend cpu|emulated, --profile a100|FILE.</summary>
    private static readonly Dictionary<string, string> Switches = new(StringComparer.Ordinal)
    {
        ["--backend"] = WorkerOptions.Section + ":" + nameof(WorkerOptions.Backend),
        ["--profile"] = WorkerOptions.Section + ":" + nameof(WorkerOptions.Profile),
    };

    /// <summary>The configured host, or null when the configuration, the model or the database is unusable (logged).</summary>
    public static IHost? Build(string[] args, ILogger startupLogger, Action<HostApplicationBuilder>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.Configuration.AddCommandLine(args, Switches);
        HostConsoleLogging.Configure(builder.Logging);
        configure?.Invoke(builder);
        EngineRuntime runtime;
        WorkerSettings settings;
        try
        {
            var buckets = BusRegistration.RankBucketsOf(builder.Configuration);
            settings = WorkerSettings.From(builder.Configuration, buckets);
            runtime = EngineRuntime.Load(settings);
            startupLogger.LogInformation("Worker {Worker}: model {Model}, {Backend}; {Blocks} KV blocks of {BlockSize} tokens, max {Sequences} sequences",
                settings.Id, settings.ModelPath, runtime.Describe(), runtime.Engine.KvBlockCount, runtime.Engine.Options.BlockSize, settings.MaxSequences);
            builder.Services.AddJobHistory(InfrastructureSettings.OptionalPostgresConnectionString(builder.Configuration),
                AdapterValidator.ForModelDirectory(settings.AdapterStorePath, settings.ModelPath, buckets), logger: startupLogger);
            builder.Services.AddLoRAQueueTracing(builder.Configuration, "loraqueue-worker");
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or IOException or ArgumentException or MigrationException
                                       or Npgsql.NpgsqlException)
        {
            startupLogger.LogCritical("Worker cannot start: {Message}", e.Message);
            return null;
        }
        AddServices(builder, settings, runtime, startupLogger);
        return builder.Build();
    }

    private static void AddServices(HostApplicationBuilder builder, WorkerSettings settings, EngineRuntime runtime, ILogger startupLogger)
    {
        var services = builder.Services;
        services.AddSingleton(settings);
        services.AddSingleton(runtime);
        services.AddSingleton(sp => new WorkerNode(settings, runtime, sp.GetRequiredService<IAdapterRegistry>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>(), stats => PeerExchange.Create(sp, settings, stats)));
        services.AddSingleton(sp => sp.GetRequiredService<WorkerNode>().Adapters);
        services.AddSingleton(sp => sp.GetRequiredService<WorkerNode>().Stats);
        services.AddHostedService<AdapterEventPublisher>();
        services.AddSingleton(sp => sp.GetRequiredService<WorkerNode>().Shutdown);
        services.AddSingleton(sp => sp.GetRequiredService<WorkerNode>()
            .CreateEndpoints(sp.GetRequiredService<IReceiveEndpointConnector>(), sp.GetRequiredService<IRankQueueDeclarer>()));
        services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.DrainTimeout + TimeSpan.FromSeconds(20));

        // Start order = registration order; stop order is the reverse: the lifecycle drains before the bus stops, and the
        // engine loop stops last.
        services.AddHostedService<EngineLoopService>();
        // SubmitJobConsumer is not registered here: RankQueueEndpoints connects it to the rank queues at run time.
        services.AddLoRAQueueBus(builder.Configuration, x =>
        {
            if (settings.RecorderEnabled) x.AddJobHistoryRecorder();
        });
        services.AddOptions<MassTransitHostOptions>().Configure(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = TimeSpan.FromSeconds(60);
            // Rank queues are drained by WorkerLifecycle before this; what is left (abandoned jobs) goes back to the broker
            // when the connection closes, so the bus need not wait long.
            o.StopTimeout = TimeSpan.FromSeconds(5);
        });
        services.AddSingleton(sp => new PlacementApplier(settings, sp.GetRequiredService<AdapterCache>(),
            sp.GetRequiredService<RankQueueEndpoints>(), sp.GetRequiredService<ILogger<PlacementApplier>>()));
        services.AddHostedService<WorkerLifecycle>();
        services.AddHostedService<PlacementListener>();
        if (InfrastructureSettings.RedisConfiguration(builder.Configuration) is { } redisConfiguration)
        {
            services.AddSingleton(_ => InfrastructureSettings.ConnectRedis(redisConfiguration));
            services.AddSingleton(sp => InfrastructureSettings.CreateLoadState(sp.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>(),
                                                                               builder.Configuration));
            services.AddHostedService<RedisWorkerReporter>();
        }
        else
        {
            startupLogger.LogWarning("LoRAQueue:Redis:Configuration is not set: no heartbeats, demand or operating points in Redis");
        }
    }
}
