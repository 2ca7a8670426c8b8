using LoRAQueue.Hosting;
using LoRAQueue.History;
using LoRAQueue.LoadState;
using LoRAQueue.Messaging;
using LoRAQueue.Worker;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

// The worker host. Configuration: appsettings.json, env LORAQUEUE__SECTION__KEY, or --LoRAQueue:Section:Key=value.
var builder = Host.CreateApplicationBuilder(args);
HostConsoleLogging.Configure(builder.Logging);
using var startupLoggers = HostConsoleLogging.CreateStartupFactory();
var startupLogger = startupLoggers.CreateLogger("LoRAQueue.Worker");

EngineRuntime runtime;
WorkerSettings settings;
try
{
    var buckets = BusRegistration.RankBucketsOf(builder.Configuration);
    settings = WorkerSettings.From(builder.Configuration, buckets);
    runtime = EngineRuntime.Load(settings);
    startupLogger.LogInformation("Worker {Worker}: model {Model} ({Bytes:N0} bytes of weights), {Blocks} KV blocks, max {Sequences} sequences",
        settings.Id, settings.ModelPath, runtime.Model.WeightBytes, runtime.Engine.KvBlockCount, settings.MaxSequences);
    builder.Services.AddWorkerHistory(builder.Configuration, settings, buckets, startupLogger);
}
catch (Exception e) when (e is InvalidOperationException or FormatException or IOException or ArgumentException or MigrationException
                               or Npgsql.NpgsqlException)
{
    startupLogger.LogCritical("Worker cannot start: {Message}", e.Message);
    return 2;
}

var services = builder.Services;
services.AddSingleton(settings);
services.AddSingleton(runtime);
services.AddSingleton(sp => new WorkerNode(settings, runtime, sp.GetRequiredService<IAdapterRegistry>(),
    sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
services.AddSingleton(sp => sp.GetRequiredService<WorkerNode>().Adapters);
services.AddSingleton(sp => sp.GetRequiredService<WorkerNode>().Stats);
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
services.AddHostedService<LoadReporter>();
if (builder.Configuration["LoRAQueue:Redis:Configuration"] is { Length: > 0 } redisConfiguration)
{
    // AbortOnConnectFail off: a worker starts and serves while Redis is down, and reconnects when it is back.
    var redisOptions = ConfigurationOptions.Parse(redisConfiguration);
    redisOptions.AbortOnConnectFail = false;
    services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(redisOptions));
    services.AddSingleton(sp => new RedisLoadState(sp.GetRequiredService<IConnectionMultiplexer>()));
    services.AddHostedService<RedisWorkerReporter>();
}
else
{
    startupLogger.LogWarning("LoRAQueue:Redis:Configuration is not set: no heartbeats, demand or operating points in Redis");
}

try
{
    await builder.Build().RunAsync();
    return 0;
}
catch (Exception e) when (e is not OutOfMemoryException)
{
    startupLogger.LogCritical(e, "Worker {Worker} failed", settings.Id);
    return 1;
}
