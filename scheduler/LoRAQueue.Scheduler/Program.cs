using LoRAQueue.Hosting;
using LoRAQueue.History;
using LoRAQueue.LoadState;
using LoRAQueue.Messaging;
using LoRAQueue.Scheduler;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

// The scheduler host. Configuration: appsettings.json, env LORAQUEUE__SECTION__KEY, or --LoRAQueue:Section:Key=value.
var builder = Host.CreateApplicationBuilder(args);
HostConsoleLogging.Configure(builder.Logging);
using var startupLoggers = HostConsoleLogging.CreateStartupFactory();
var startupLogger = startupLoggers.CreateLogger("LoRAQueue.Scheduler");

SchedulerOptions options;
IConnectionMultiplexer redis;
NpgsqlDataSource dataSource;
try
{
    options = SchedulerOptions.From(builder.Configuration);
    LoRAQueue.Core.Placement.PlacementPolicies.Create(options.Policy); // an unknown policy fails at start, not per window
    var redisConfiguration = builder.Configuration["LoRAQueue:Redis:Configuration"] is { Length: > 0 } r ? r
        : throw new InvalidOperationException("LoRAQueue:Redis:Configuration is not set");
    var postgres = builder.Configuration["LoRAQueue:Postgres:ConnectionString"] is { Length: > 0 } p ? p
        : throw new InvalidOperationException("LoRAQueue:Postgres:ConnectionString is not set");
    DatabaseMigrator.Migrate(postgres, startupLogger);
    dataSource = NpgsqlDataSource.Create(postgres);
    // Keep retrying in the background: Redis being down is a state to ride out, not a reason to exit.
    var redisOptions = ConfigurationOptions.Parse(redisConfiguration);
    redisOptions.AbortOnConnectFail = false;
    redis = ConnectionMultiplexer.Connect(redisOptions);
    startupLogger.LogInformation("Scheduler {Id}: policy {Policy}, window {Window}, lease {Lease}", options.Id, options.Policy,
        options.Window, options.LeaseTime);
}
catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or MigrationException
                               or NpgsqlException or RedisException)
{
    startupLogger.LogCritical("Scheduler cannot start: {Message}", e.Message);
    return 2;
}

var services = builder.Services;
services.AddSingleton(options);
services.AddSingleton(redis);
services.AddSingleton(dataSource);
services.AddSingleton<IJobHistory>(new PostgresJobHistory(dataSource));
services.AddSingleton<IAdapterRegistry>(new PostgresAdapterRegistry(dataSource));
services.AddSingleton(new RedisLoadState(redis));
services.AddSingleton(new PlacementHistory(dataSource));
services.AddSingleton(new SchedulerLease(redis, options.Id, options.LeaseTime));
services.AddLoRAQueueBus(builder.Configuration);
services.AddOptions<MassTransitHostOptions>().Configure(o =>
{
    o.WaitUntilStarted = true;
    o.StartTimeout = TimeSpan.FromSeconds(60);
    o.StopTimeout = TimeSpan.FromSeconds(5);
});
services.AddHostedService<LeaseKeeper>();
// IPublishEndpoint resolves to a scoped endpoint; the loop is a singleton, so it publishes through the bus itself.
services.AddHostedService(sp => ActivatorUtilities.CreateInstance<PlacementLoop>(sp, sp.GetRequiredService<IBus>()));

try
{
    await builder.Build().RunAsync();
    return 0;
}
catch (Exception e) when (e is not OutOfMemoryException)
{
    startupLogger.LogCritical(e, "Scheduler {Id} failed", options.Id);
    return 1;
}
