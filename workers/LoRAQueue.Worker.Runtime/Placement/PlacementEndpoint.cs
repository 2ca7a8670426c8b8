using LoRAQueue.Contracts;
using LoRAQueue.Messaging;
using MassTransit;

namespace LoRAQueue.Worker;

/// <summary>Hands each <see cref="PlacementCommand"/> to the worker's <see cref="PlacementApplier"/>, which ignores
/// commands for other workers and stale epochs.</summary>
public sealed class PlacementCommandConsumer(PlacementApplier applier) : IConsumer<PlacementCommand>
{
    public Task Consume(ConsumeContext<PlacementCommand> context) => applier.ApplyAsync(context.Message, context.CancellationToken);
}

/// <summary>The worker's own placement queue (<see cref="PlacementTopology"/>): the scheduler sends this worker's commands to
/// it and to no other worker.</summary>
public static class PlacementEndpoint
{
    public static string QueueName(string workerId) => PlacementTopology.QueueName(workerId);

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
            endpoint.ConfigureConsumeTopology = false; // no fan-out binding: commands are sent, not published
            endpoint.PrefetchCount = 1;
            endpoint.ConcurrentMessageLimit = 1;
            endpoint.Consumer(() => new PlacementCommandConsumer(applier));
        });
    }
}
