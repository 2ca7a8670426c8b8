using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>Connects the worker's placement queue once its configured rank queues are consumed (register it after
/// <see cref="WorkerLifecycle"/>, so that the start-up queues never overwrite a command), and stops it first on shutdown.</summary>
public sealed class PlacementListener(IReceiveEndpointConnector connector, WorkerSettings settings, PlacementApplier applier,
                                      ILogger<PlacementListener> logger) : IHostedService
{
    private HostReceiveEndpointHandle? _handle;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _handle = PlacementEndpoint.Connect(connector, settings.Id, applier);
        await _handle.Ready.WaitAsync(cancellationToken);
        logger.LogInformation("Worker {Worker} listening for placement commands on {Queue}", settings.Id, PlacementEndpoint.QueueName(settings.Id));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_handle is not null) await _handle.StopAsync(cancellationToken);
    }
}
