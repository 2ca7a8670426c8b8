using LoRAQueue.Contracts;
using LoRAQueue.Messaging;
using MassTransit;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace LoRAQueue.Webhooks;

/// <summary>
/// Turns JobCompleted / JobFailed events that name a webhook URL into pending deliveries. Events arrive at least
/// once; the unique (job_id, event_type) index makes a redelivered event a no-op. The URL's address is checked
/// when the dispatcher connects, so a raw AMQP producer cannot aim the dispatcher at a private address either.
/// </summary>
public sealed class WebhookEnqueuer(NpgsqlDataSource dataSource, ILogger<WebhookEnqueuer> logger) :
    IConsumer<JobCompleted>, IConsumer<JobFailed>
{
    private readonly DeliveryQueue _queue = new(dataSource);

    public Task Consume(ConsumeContext<JobCompleted> context)
    {
        var e = context.Message;
        return Enqueue(e.Tenant, WebhookEventTypes.JobCompleted, e.JobId, e.BatchId, e.WebhookUrl, () => WebhookBodies.Job(e),
                       context.CancellationToken);
    }

    public Task Consume(ConsumeContext<JobFailed> context)
    {
        var e = context.Message;
        return Enqueue(e.Tenant, WebhookEventTypes.JobFailed, e.JobId, e.BatchId, e.WebhookUrl, () => WebhookBodies.Job(e),
                       context.CancellationToken);
    }

    private async Task Enqueue(string tenant, string eventType, Guid jobId, Guid? batchId, string? url, Func<string> body,
                               CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(url)) return;
        bool created = await _queue.EnqueueAsync(tenant, eventType, jobId, batchId, url.Trim(), body(), ct);
        if (!created) logger.LogDebug("Webhook {EventType} for job {JobId} already enqueued (redelivered event)", eventType, jobId);
    }
}

/// <summary>Receive endpoint <c>webhook-deliveries</c>; a database outage is waited out, a write the database refuses goes to
/// <c>webhook-deliveries_error</c> at once (<see cref="OutageRetry"/>).</summary>
public sealed class WebhookEnqueuerDefinition : ConsumerDefinition<WebhookEnqueuer>
{
    public const string QueueName = "webhook-deliveries";

    public WebhookEnqueuerDefinition() => EndpointName = QueueName;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<WebhookEnqueuer> consumerConfigurator, IRegistrationContext context)
    {
        consumerConfigurator.UseMessageRetry(OutageRetry.Configure);
    }
}
