using System.Net.Mime;
using LoRAQueue.Contracts;
using LoRAQueue.Core;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using LoRAQueue.Hosting;

namespace LoRAQueue.Messaging;

public enum TransportKind { RabbitMq, InMemory }

public static class BusRegistration
{
    /// <summary>LoRAQueue:Transport = "rabbitmq" (default) | "inmemory".</summary>
    public static TransportKind TransportOf(IConfiguration configuration)
    {
        var value = configuration["LoRAQueue:Transport"];
        return value?.Trim().ToLowerInvariant() switch
        {
            null or "" or "rabbitmq" => TransportKind.RabbitMq,
            "inmemory" or "in-memory" => TransportKind.InMemory,
            _ => throw new FormatException($"configuration LoRAQueue:Transport = '{value}': expected 'rabbitmq' or 'inmemory'"),
        };
    }

    /// <summary>LoRAQueue:RankBuckets ("8,16,32,64,128"), default <see cref="RankBuckets.Default"/>.</summary>
    public static RankBuckets RankBucketsOf(IConfiguration configuration) =>
        configuration["LoRAQueue:RankBuckets"] is { Length: > 0 } text ? RankBuckets.Parse(text) : RankBuckets.Default;

    /// <summary>
    /// Adds MassTransit on the configured transport (usage telemetry off, publisher confirms on, every node of a cluster, bounded
    /// prefetch, durable endpoints declared by <see cref="QueueTopology"/>),
    /// the rank-queue topology step (<see cref="IRankQueueDeclarer"/>), <see cref="IQueueDepthReader"/>, <see cref="RankBuckets"/> and
    /// <see cref="JobPublisher"/>.
    /// <paramref name="configure"/> adds consumers; endpoints registered there are created by ConfigureEndpoints.
    /// </summary>
    public static IServiceCollection AddLoRAQueueBus(this IServiceCollection services, IConfiguration configuration,
                                                     Action<IBusRegistrationConfigurator>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var transport = TransportOf(configuration);
        var buckets = RankBucketsOf(configuration);
        services.TryAddSingleton(buckets);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<JobPublisher>();

        if (transport == TransportKind.RabbitMq)
        {
            services.AddSectionOptions<RabbitMqSettings>(configuration); // validated at start-up
            services.TryAddSingleton(sp => sp.GetRequiredService<IOptions<RabbitMqSettings>>().Value);
            services.TryAddSingleton(sp => new QueueTopology(sp.GetRequiredService<RabbitMqSettings>()));
            services.TryAddSingleton<IRankQueueDeclarer>(sp => new RabbitMqRankQueueDeclarer(sp.GetRequiredService<RabbitMqSettings>(),
                sp.GetRequiredService<QueueTopology>(), sp.GetRequiredService<RankBuckets>(),
                sp.GetRequiredService<ILogger<RabbitMqRankQueueDeclarer>>()));
            services.TryAddSingleton<IQueueDepthReader>(sp => new RabbitMqQueueDepthReader(sp.GetRequiredService<RabbitMqSettings>(),
                sp.GetRequiredService<RankBuckets>(), sp.GetRequiredService<ILogger<RabbitMqQueueDepthReader>>()));
        }
        else
        {
            services.TryAddSingleton<IRankQueueDeclarer, InMemoryRankQueueDeclarer>();
            services.TryAddSingleton<IQueueDepthReader, InMemoryQueueDepthReader>();
        }

        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.SetKebabCaseEndpointNameFormatter();
            configure?.Invoke(x);

            if (transport == TransportKind.RabbitMq)
            {
                // Every durable endpoint ConfigureEndpoints creates declares its queue as QueueTopology says (quorum by default);
                // MassTransit copies the arguments to the endpoint's _error and _skipped queues.
                x.AddConfigureEndpointsCallback((context, _, endpoint) =>
                {
                    if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit) context.GetRequiredService<QueueTopology>().ApplyEndpoint(rabbit);
                });
                x.UsingRabbitMq((context, cfg) =>
                {
                    var settings = context.GetRequiredService<RabbitMqSettings>();
                    var nodes = settings.Nodes;
                    cfg.Host(nodes[0].Host, (ushort)nodes[0].Port, settings.VirtualHost, h =>
                    {
                        h.Username(settings.Username);
                        h.Password(settings.Password);
                        // Every send and publish waits for the broker's confirm (for a quorum queue: a majority of its nodes
                        // wrote it); one that is nacked or not confirmed before its channel closes throws to the caller.
                        h.PublisherConfirmation = true;
                        h.ConnectionName(System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name ?? "loraqueue");
                        h.RequestedConnectionTimeout(TimeSpan.FromSeconds(10));
                        h.Heartbeat(TimeSpan.FromSeconds(10));
                        // Connected to every node: one connection at a time, to the next node in turn when the current one goes away.
                        if (nodes.Count > 1) h.UseCluster(c => { foreach (var node in nodes) c.Node(node.ToString()); });
                    });
                    cfg.PrefetchCount = settings.PrefetchCount;
                    UseRawJsonForSubmitJob(cfg);
                    cfg.ConfigureEndpoints(context);
                });
            }
            else
            {
                x.UsingInMemory((context, cfg) =>
                {
                    UseRawJsonForSubmitJob(cfg);
                    cfg.ConfigureEndpoints(context);
                });
            }
        });
        return services;
    }

    /// <summary>The content type of raw JSON messages (no MassTransit envelope).</summary>
    public static readonly ContentType RawJson = new("application/json");

    /// <summary>The content type of MassTransit's JSON envelope (messageId, messageType, message …).</summary>
    public static readonly ContentType EnvelopeJson = new("application/vnd.masstransit+json");

    /// <summary>
    /// SubmitJob goes out as plain JSON, the same bytes a non-.NET producer writes. Events always keep the envelope:
    /// MassTransit would otherwise publish them in the serializer of the message being consumed (raw, on rank queues),
    /// and a raw event carries no message type for the job-history endpoint to route by. The same for the adapter events
    /// (AdapterPulled, AdapterPullFailed): a worker publishes them while it consumes a job, and the gateway-metrics endpoint
    /// routes them by type.
    /// </summary>
    private static void UseRawJsonForSubmitJob(IBusFactoryConfigurator cfg)
    {
        cfg.UseRawJsonSerializer(RawSerializerOptions.AddTransportHeaders | RawSerializerOptions.CopyHeaders, isDefault: false);
        cfg.Send<SubmitJob>(s => s.UseSerializer(RawJson));
        cfg.Send<JobStarted>(s => s.UseSerializer(EnvelopeJson));
        cfg.Send<JobCompleted>(s => s.UseSerializer(EnvelopeJson));
        cfg.Send<JobFailed>(s => s.UseSerializer(EnvelopeJson));
        cfg.Send<AdapterPulled>(s => s.UseSerializer(EnvelopeJson));
        cfg.Send<AdapterPullFailed>(s => s.UseSerializer(EnvelopeJson));
    }
}
