using LoRAQueue.Contracts;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker.DataPlane;

/// <summary>Publishes the fetcher's AdapterPulled and AdapterPullFailed events for the gateway's metrics. Best effort: a
/// broker outage loses a metric sample, never a job.</summary>
public sealed class AdapterEventPublisher(WorkerNode node, IBus bus, ILogger<AdapterEventPublisher> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        node.Adapters.Fetcher.Pulled += e => Publish(e);
        node.Adapters.Fetcher.PullFailed += e => Publish(e);
        return Task.CompletedTask;
    }

    private void Publish<T>(T message) where T : class =>
        _ = bus.Publish(message).ContinueWith(t => logger.LogWarning("Could not publish {Event}: {Message}", typeof(T).Name, t.Exception!.InnerException!.Message),
                                              TaskContinuationOptions.OnlyOnFaulted);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
