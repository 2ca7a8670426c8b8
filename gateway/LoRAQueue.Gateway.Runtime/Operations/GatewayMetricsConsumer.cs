using LoRAQueue.Contracts;
using MassTransit;

namespace LoRAQueue.Gateway.Operations;

/// <summary>Observes finished jobs for the latency histograms (JobCompleted carries the worker's timings and its adapter load;
/// JobFailed only counts), and the workers' adapter pulls (AdapterPulled, AdapterPullFailed).</summary>
public sealed class GatewayMetricsConsumer(GatewayMetrics metrics)
    : IConsumer<JobCompleted>, IConsumer<JobFailed>, IConsumer<AdapterPulled>, IConsumer<AdapterPullFailed>
{
    public const string QueueName = "gateway-metrics";

    public Task Consume(ConsumeContext<JobCompleted> context)
    {
        var e = context.Message;
        string bucket = GatewayMetrics.BucketLabel(e.RankBucket);
        metrics.QueueSeconds.WithLabels(bucket).Observe(e.Timings.QueueMs / 1000);
        metrics.TtftSeconds.WithLabels(bucket).Observe(e.Timings.TtftMs / 1000);
        metrics.TotalSeconds.WithLabels(bucket).Observe(e.Timings.TotalMs / 1000);
        if (e.AdapterLoad is { } load) metrics.AdapterLoaded(load); // null for base-model jobs
        metrics.Finished("completed", e.RankBucket);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<JobFailed> context)
    {
        metrics.Finished("failed", context.Message.RankBucket);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<AdapterPulled> context)
    {
        metrics.Pulled(context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<AdapterPullFailed> context)
    {
        metrics.PullFailed(context.Message);
        return Task.CompletedTask;
    }
}

/// <summary>Its own queue, so the gateway sees every event alongside the history recorder and the webhook enqueuer.</summary>
public sealed class GatewayMetricsConsumerDefinition : ConsumerDefinition<GatewayMetricsConsumer>
{
    public GatewayMetricsConsumerDefinition() => EndpointName = GatewayMetricsConsumer.QueueName;
}
