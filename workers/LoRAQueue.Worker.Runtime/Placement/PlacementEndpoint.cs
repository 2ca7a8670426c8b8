using LoRAQueue.Contracts;
using MassTransit;

namespace LoRAQueue.Worker;

/// <summary>Hands each <see cref="PlacementCommand"/> to the worker's <see cref="PlacementApplier"/>, which ignores
/// commands for other workers and stale epochs.</summary>
public sealed class PlacementCommandConsumer(PlacementApplier applier) : IConsumer<PlacementCommand>
{
    public Task Consume(ConsumeContext<PlacementCommand> context) => applier.ApplyAsync(context.Message, context.CancellationToken);
}

/// <summary>The worker's own placement queue, placement-{worker id}, bound to the PlacementCommand fan-out.</summary>
public static class PlacementEndpoint
{
    public static string QueueName(string workerId) => "placement-" + workerId;

    public static HostReceiveEndpointHandle Connect(IReceiveEndpointConnector connector, string workerId, PlacementApplier applier)
    {
        ArgumentNullException.ThrowIfNull(connector);
        ArgumentNullException.ThrowIfNull(applier);
        return connector.ConnectReceiveEndpoint(QueueName(workerId), (_, endpoint) =>
        {
            // A worker that is gone needs no placement; the scheduler sends a fresh one when it comes back.
            if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
            {
                rabbit.AutoDelete = true;
                rabbit.Durable = false;
            }
            endpoint.PrefetchCount = 1;
            endpoint.ConcurrentMessageLimit = 1;
            endpoint.Consumer(() => new PlacementCommandConsumer(applier));
        });
    }
}
