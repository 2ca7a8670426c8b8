using StackExchange.Redis;

namespace LoRAQueue.LoadState;

// Placement epochs a worker acknowledged: the scheduler reads them to know which placement each worker has applied.
public sealed partial class RedisLoadState
{
    /// <summary>STRING, the last placement epoch the worker applied; no TTL (the epoch outlives a heartbeat gap).</summary>
    public RedisKey EpochKey(string worker) => Keys.Prefix + "worker:" + worker + ":epoch";

    /// <summary>Records that <paramref name="worker"/> applied <paramref name="epoch"/>. Never moves the value back:
    /// a late acknowledgement of an older epoch leaves a newer one in place.</summary>
    public async Task AcknowledgeEpochAsync(string worker, long epoch)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        const string script = """
            local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
            if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
            return 0
            """;
        await _db.ScriptEvaluateAsync(script, [EpochKey(worker)], [epoch]).ConfigureAwait(false);
    }

    /// <summary>The last epoch <paramref name="worker"/> acknowledged; null when it never did.</summary>
    public async Task<long?> GetAcknowledgedEpochAsync(string worker)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        var value = await _db.StringGetAsync(EpochKey(worker)).ConfigureAwait(false);
        return value.IsNull ? null : (long)value;
    }
}
