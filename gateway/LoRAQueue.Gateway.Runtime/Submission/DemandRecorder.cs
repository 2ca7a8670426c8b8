using LoRAQueue.LoadState;
using StackExchange.Redis;

namespace LoRAQueue.Gateway.Submission;

/// <summary>
/// Adds each admitted job's token demand (prompt tokens + max_tokens: what the job may cost) to the load state's demand
/// windows as it is queued, so the scheduler sees demand when it arrives rather than when it has been served — a backlog
/// shows up as demand, not as silence. Jobs carry <c>DemandRecorded</c>, so workers do not count them a second time.
/// Redis being down loses that demand, never the job.
/// </summary>
public sealed class DemandRecorder(RedisLoadState loadState, TimeProvider clock, ILogger<DemandRecorder> logger)
{
    private int _failing;

    public async Task RecordAsync(string? adapterId, int tokens)
    {
        try
        {
            await loadState.RecordDemandAsync(adapterId, tokens, clock.GetUtcNow());
            if (Interlocked.Exchange(ref _failing, 0) == 1) logger.LogInformation("Redis is reachable again: demand recorded");
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            if (Interlocked.Exchange(ref _failing, 1) == 0)
                logger.LogWarning("Redis unreachable, admitted demand not recorded (jobs are queued as usual): {Message}", e.Message);
        }
    }
}
