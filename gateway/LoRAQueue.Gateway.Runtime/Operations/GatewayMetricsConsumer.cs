using LoRAQueue.Contracts;
using MassTransit;

namespace LoRAQueue.Gateway.Operations;

/// <summary>Observes finished jobs for the latency histograms (JobCompleted carries the worker's timings; JobFailed only counts).</summary>
public sealed class GatewayMetricsConsumer(GatewayMetrics metrics) : IConsumer<JobCompleted>, IConsumer<JobFailed>
{
    public const string QueueName = "gateway-metrics";

    public Task Consume(ConsumeContext<JobCompleted> context)
    {
        var e = context.Message;
        string bucket = GatewayMetrics.BucketLabel(e.RankBucket);
        metrics.QueueSeconds.WithLabels(bucket).Observe(e.Timings.QueueMs / 1000);
        metrics.TtftSeconds.WithLabels(bucket).Observe(e.Timings.TtftMs / 1000);
        metrics.TotalSeconds.WithLabels(bucket).Observe(e.Timings.TotalMs / 1000);
        metrics.Finished("completed", e.RankBucket);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<JobFailed> context)
    {
        metrics.Finished("failed", context.Message.RankBucket);
        return Task.CompletedTask;
    }
}

/// <summary>Its own queue, so the gateway sees every event alongside the history recorder and the webhook enqueuer.</summary>
public sealed class GatewayMetricsConsumerDefinition : ConsumerDefinition<GatewayMetricsConsumer>
{
    public GatewayMetricsConsumerDefinition() => EndpointName = GatewayMetricsConsumer.QueueName;
}
