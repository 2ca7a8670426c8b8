using LoRAQueue.LoadState;
using LoRAQueue.Messaging;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace LoRAQueue.Scheduler;

/// <summary>
/// While this scheduler leads: copies each rank queue's depth from RabbitMQ into the load state every check
/// interval, where the drift detector (backlog growth) and the gateway's metrics read it. A broker or Redis
/// outage skips a round; the depths in Redis expire rather than go stale.
/// </summary>
public sealed class QueueDepthMonitor(SchedulerOptions options, SchedulerLease lease, IQueueDepthReader reader, RedisLoadState loadState,
                                      TimeProvider time, ILogger<QueueDepthMonitor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.CheckInterval, time);
        do
        {
            if (!lease.IsLeader) continue;
            try
            {
                await CopyOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisException or TimeoutException or RabbitMQ.Client.Exceptions.BrokerUnreachableException
                                           or RabbitMQ.Client.Exceptions.AlreadyClosedException
                                           or RabbitMQ.Client.Exceptions.OperationInterruptedException)
            {
                logger.LogWarning("Queue depths not updated: {Message}", e.Message);
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public async Task CopyOnceAsync(CancellationToken ct) =>
        await loadState.SetQueueDepthsAsync(await reader.ReadAsync(ct).ConfigureAwait(false)).ConfigureAwait(false);
}
