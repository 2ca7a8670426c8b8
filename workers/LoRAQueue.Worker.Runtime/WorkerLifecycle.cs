using LoRAQueue.Messaging;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>
/// Starts consuming once the bus is up (after declaring every rank queue), and on SIGTERM drains: stops receiving,
/// lets in-flight jobs finish for up to DrainTimeout, then cancels the rest — their messages are not acknowledged and
/// go back to their queue for another worker. Registered after the bus so it stops before the bus does.
/// </summary>
public sealed class WorkerLifecycle(WorkerNode node, RankQueueEndpoints endpoints, IRankQueueDeclarer declarer, WorkerSettings settings,
                                    WorkerStats stats, WorkerShutdown shutdown, ILogger<WorkerLifecycle> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await node.StartServingAsync(cancellationToken);
        logger.LogInformation("Worker {Worker}: host cache {Mb:N0} MiB, adapters from peers over {Transport}", settings.Id,
            node.HostCache.Capacity >> 20, node.Exchange.Transport);
        await declarer.DeclareAllAsync(cancellationToken);
        await endpoints.ApplyAsync(settings.RankQueues, cancellationToken);
        logger.LogInformation("Worker {Worker} ready on {Queues}", settings.Id, settings.DescribeQueues());
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        logger.LogInformation("Worker {Worker} stopping: {InFlight} jobs in flight, waiting up to {Timeout:0.#} s",
            settings.Id, stats.InEngine, settings.DrainTimeout.TotalSeconds);
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        drain.CancelAfter(settings.DrainTimeout);
        try
        {
            await endpoints.StopAllAsync(drain.Token);
        }
        catch (OperationCanceledException)
        {
        }
        if (stats.InEngine > 0 || drain.IsCancellationRequested)
        {
            logger.LogWarning("Drain timed out with {InFlight} jobs in flight; returning them to their queues", stats.InEngine);
            await shutdown.AbandonAsync();
        }
    }
}

/// <summary>Fires when a stopping worker gives up on its in-flight jobs; consumers then end without acknowledging.</summary>
public sealed class WorkerShutdown
{
    private readonly CancellationTokenSource _abandon = new();

    public CancellationToken Abandoned => _abandon.Token;

    public Task AbandonAsync() => _abandon.CancelAsync();
}
