using LoRAQueue.Core.Placement;
using LoRAQueue.Hosting;
using LoRAQueue.Hosting.Tracing;
using LoRAQueue.History;
using LoRAQueue.LoadState;
using LoRAQueue.Messaging;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

namespace LoRAQueue.Scheduler;

/// <summary>
/// The scheduler as a Generic Host, for the scheduler executable and <c>loraqueue serve scheduler</c>. Configuration:
/// appsettings.json, env LORAQUEUE__SECTION__KEY, or --LoRAQueue:Section:Key=value.
/// </summary>
public static class SchedulerHost
{
    /// <summary>Exit codes: 0 stopped cleanly, 1 failed while running, 2 could not start (the reason is logged).</summary>
    public static Task<int> RunAsync(string[] args, CancellationToken ct = default) =>
        HostRunner.RunAsync("LoRAQueue.Scheduler", logger => Build(args, logger), ct);

    /// <summary>The configured host, or null when the configuration or the database is unusable (logged).</summary>
    public static IHost? Build(string[] args, ILogger startupLogger, Action<HostApplicationBuilder>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(args);
        HostConsoleLogging.Configure(builder.Logging);
        configure?.Invoke(builder);
        SchedulerOptions options;
        IConnectionMultiplexer redis;
        RedisLoadState loadState;
        try
        {
            options = SchedulerOptions.From(builder.Configuration);
            PlacementPolicies.Create(options.Policy); // an unknown policy fails at start, not per window
            var redisConfiguration = InfrastructureSettings.RedisConfiguration(builder.Configuration)
                ?? throw new InvalidOperationException("configuration LoRAQueue:Redis:Configuration (env LORAQUEUE__REDIS__CONFIGURATION) is not set");
            builder.Services.AddJobHistory(InfrastructureSettings.PostgresConnectionString(builder.Configuration), logger: startupLogger);
            // Redis being down is a state to ride out, not a reason to exit: the multiplexer keeps retrying.
            redis = InfrastructureSettings.ConnectRedis(redisConfiguration);
            loadState = InfrastructureSettings.CreateLoadState(redis, builder.Configuration);
            options.ValidateAgainst(loadState.Options);
            builder.Services.AddLoRAQueueTracing(builder.Configuration, "loraqueue-scheduler");
            startupLogger.LogInformation("Scheduler {Id}: policy {Policy}, window {Window}, lease {Lease}", options.Id, options.Policy,
                options.Window, options.LeaseTime);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or MigrationException
                                       or NpgsqlException or RedisException)
        {
            startupLogger.LogCritical("Scheduler cannot start: {Message}", e.Message);
            return null;
        }

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(redis);
        services.AddSingleton(loadState);
        services.AddSingleton(sp => new PlacementHistory(sp.GetRequiredService<NpgsqlDataSource>()));
        services.AddSingleton(new SchedulerLease(redis, options.Id, options.LeaseTime, loadState.Keys.Prefix));
        services.AddLoRAQueueBus(builder.Configuration);
        services.AddOptions<MassTransitHostOptions>().Configure(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = TimeSpan.FromSeconds(60);
            o.StopTimeout = TimeSpan.FromSeconds(5);
        });
        services.AddHostedService<LeaseKeeper>();
        // ISendEndpointProvider resolves to a scoped provider; the loop is a singleton, so it sends through the bus itself.
        services.AddHostedService(sp => ActivatorUtilities.CreateInstance<PlacementLoop>(sp, (ISendEndpointProvider)sp.GetRequiredService<IBus>()));
        return builder.Build();
    }
}
