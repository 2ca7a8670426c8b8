using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace LoRAQueue.Scheduler;

/// <summary>Renews the lease every third of the lease time while it is held; a standby tries for it every tenth, so it
/// takes over at most a tenth of a lease after the leader's lapses. Stopping releases the lease for a quick hand-over.</summary>
public sealed class LeaseKeeper(SchedulerLease lease, ILogger<LeaseKeeper> logger) : BackgroundService
{
    public SchedulerLease Lease { get; } = lease;

    public TimeSpan RenewInterval => Lease.LeaseTime / 3;
    public TimeSpan StandbyInterval => Lease.LeaseTime / 10;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        bool wasLeader = false;
        logger.LogInformation("Scheduler {Holder} running (lease {Lease}), trying for the lease", Lease.HolderId, Lease.LeaseTime);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                bool leader;
                try
                {
                    leader = await Lease.AcquireOrRenewAsync().ConfigureAwait(false);
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    leader = false;
                    logger.LogWarning("Scheduler {Holder}: Redis unreachable, not leading: {Message}", Lease.HolderId, e.Message);
                }
                if (leader != wasLeader)
                {
                    if (leader) logger.LogInformation("Scheduler {Holder} is leader (epoch {Epoch})", Lease.HolderId, Lease.LeaderEpoch);
                    else logger.LogWarning("Scheduler {Holder} lost the lease; standing by", Lease.HolderId);
                    wasLeader = leader;
                }
                await Task.Delay(leader ? RenewInterval : StandbyInterval, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try { await Lease.ReleaseAsync().ConfigureAwait(false); }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogWarning("Scheduler {Holder}: could not release the lease ({Message}); it lapses on its own", Lease.HolderId, e.Message);
        }
    }
}
