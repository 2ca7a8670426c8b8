using LoRAQueue.Admission;
using LoRAQueue.Gateway.Adapters;
using LoRAQueue.Gateway.Batches;
using LoRAQueue.Gateway.Jobs;
using LoRAQueue.Gateway.Operations;
using LoRAQueue.Gateway.Submission;
using LoRAQueue.Gateway.Tenancy;
using LoRAQueue.Gateway.Webhooks;
using LoRAQueue.History;
using LoRAQueue.History.Tenants;
using LoRAQueue.Hosting;
using LoRAQueue.Hosting.Tracing;
using LoRAQueue.Messaging;
using LoRAQueue.Webhooks;
using MassTransit;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.OpenApi;
using Npgsql;
using OpenTelemetry.Trace;
using Prometheus;

namespace LoRAQueue.Gateway;

/// <summary>
/// The gateway: an ASP.NET Core minimal API over the job publisher, the Postgres history, the adapter registry, the tenant
/// store and the webhook deliveries. <see cref="Build"/> makes the whole application so any host (the gateway executable's
/// Program.cs, the CLI's serve, tests) runs the same thing.
/// </summary>
public static class GatewayApplication
{
    /// <summary>
    /// Builds the gateway. <paramref name="configure"/> runs first, before the gateway reads its configuration: add
    /// configuration sources, URLs or services there. Migrates the database unless LoRAQueue:Gateway:MigrateOnStart is false.
    /// </summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        HostConsoleLogging.Configure(builder.Logging);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning); // no line per request
        configure?.Invoke(builder);
        var settings = GatewaySettings.From(builder.Configuration);
        AddServices(builder, settings);
        // The server-wide ceiling admits an adapter upload; UseTenantBodyLimit lowers it for every other request.
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = Math.Max(settings.MaxBodyBytes, settings.MaxAdapterUploadBytes));

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseHttpMetrics(o => o.SetMetricFactory(app.Services.GetRequiredService<GatewayMetrics>().Factory));
        app.UseAuthentication();
        app.UseRateLimiter();
        app.UseTenantBodyLimit();
        app.UseAuthorization();
        MapEndpoints(app);
        return app;
    }

    /// <summary>Program.cs: runs until stopped. Exit codes as every host's (<see cref="HostRunner"/>): 2 when the
    /// configuration, the model or the database is unusable (said plainly, no stack trace).</summary>
    public static Task<int> RunAsync(string[] args) => HostRunner.RunAsync("LoRAQueue.Gateway", logger => TryBuild(args, logger));

    /// <summary><see cref="Build"/>, or null with the reason logged when the gateway cannot start.</summary>
    public static WebApplication? TryBuild(string[] args, ILogger logger)
    {
        try
        {
            return Build(args);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or MigrationException or IOException
                                   or NpgsqlException)
        {
            logger.LogCritical("The gateway cannot start: {Message}", e.Message);
            return null;
        }
    }

    private static void AddServices(WebApplicationBuilder builder, GatewaySettings settings)
    {
        var services = builder.Services;
        var configuration = builder.Configuration;
        var buckets = BusRegistration.RankBucketsOf(configuration);
        services.ConfigureHttpJsonOptions(o => GatewayJson.Configure(o.SerializerOptions));
        services.AddProblemDetails();
        services.AddExceptionHandler<OutageExceptionHandler>();
        services.AddSingleton(settings);

        using (var startupLogging = HostConsoleLogging.CreateStartupFactory())
            services.AddJobHistory(settings.PostgresConnectionString, AdapterValidator.ForModelDirectory(settings.AdapterStorePath, settings.ModelPath, buckets),
                                   migrate: settings.MigrateOnStart, startupLogging.CreateLogger("LoRAQueue.Gateway"));
        services.AddJobIntake(settings.ModelPath, settings.MaxTokens);
        services.AddSingleton<JobSubmitter>();
        services.AddSingleton(_ => IdempotencyLockPool.Create(settings.PostgresConnectionString, settings.IdempotencyLockConnections));
        services.AddSingleton<IdempotencyStore>();
        services.AddSingleton<BatchStore>();
        services.AddSingleton<BatchResults>();
        services.AddSingleton<GatewayMetrics>();
        services.AddWebhookDelivery(configuration);
        // Server spans for the API only: health probes and metric scrapes would each be a trace of their own.
        services.AddLoRAQueueTracing(configuration, "loraqueue-gateway", AddGatewayInstrumentation);

        bool rabbit = BusRegistration.TransportOf(configuration) == TransportKind.RabbitMq;
        services.AddLoRAQueueBus(configuration, bus =>
        {
            bus.AddWebhookEnqueuer();
            bus.AddConsumer<GatewayMetricsConsumer, GatewayMetricsConsumerDefinition>();
            bus.ConfigureHealthCheckOptions(o =>
            {
                o.Name = rabbit ? "rabbitmq" : "bus";
                o.MinimalFailureStatus = HealthStatus.Unhealthy;
            });
        });

        var health = services.AddHealthChecks()
            .AddCheck<PostgresHealthCheck>("postgres", timeout: TimeSpan.FromSeconds(5));
        if (settings.RedisConfiguration is { } redis)
        {
            services.AddSingleton(_ => InfrastructureSettings.ConnectRedis(redis));
            health.AddCheck<RedisHealthCheck>("redis", timeout: TimeSpan.FromSeconds(5));
            services.AddSingleton(sp => InfrastructureSettings.CreateLoadState(sp.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>(),
                                                                               builder.Configuration));
            services.AddSingleton<DemandRecorder>(); // JobSubmitter records admitted demand only when Redis is configured
        }

        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorization();
        services.AddTenantRateLimits();
        services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "LoRAQueue gateway";
            document.Info.Description = "Batch inference over many LoRA adapters. Authenticate with 'Authorization: Bearer <api key>'.";
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http, Scheme = "bearer", Description = "A tenant API key (lq_…)",
            };
            return Task.CompletedTask;
        }));
    }

    /// <summary>The gateway's own spans: one server span per /v1 request. Also used by `loraqueue serve` when it runs several
    /// hosts under one process-wide tracer provider.</summary>
    public static void AddGatewayInstrumentation(TracerProviderBuilder tracing) =>
        tracing.AddAspNetCoreInstrumentation(o => o.Filter = http => http.Request.Path.StartsWithSegments("/v1"));

    private static void MapEndpoints(WebApplication app)
    {
        app.MapOpenApi(); // /openapi/v1.json
        app.MapHealthChecks("/healthz", new HealthCheckOptions
        {
            ResponseWriter = HealthResponse.WriteAsync,
            ResultStatusCodes = HealthResponse.StatusCodes,
        });
        app.MapMetrics("/metrics", app.Services.GetRequiredService<GatewayMetrics>().Registry);

        var metrics = app.Services.GetRequiredService<GatewayMetrics>();
        var v1 = app.MapGroup("/v1").RequireAuthorization().AddEndpointFilter(async (context, next) =>
        {
            try
            {
                return await next(context);
            }
            catch (RequestException e)
            {
                metrics.Rejected(e.Problem.Code);
                return e.Problem.ToResult();
            }
        });
        v1.MapJobEndpoints();
        v1.MapBatchEndpoints();
        v1.MapAdapterEndpoints(app.Services.GetRequiredService<GatewaySettings>());
        v1.MapDeliveryEndpoints();
    }
}
