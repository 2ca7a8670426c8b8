using System.Diagnostics;
using LoRAQueue.LoadState;
using StackExchange.Redis;

namespace LoRAQueue.Scheduler;

/// <summary>
/// One active scheduler: a lease key (<c>{prefix}scheduler:lease</c>, value = holder id, SET NX PX) renewed by a
/// compare-and-set script, plus an epoch counter (<c>{prefix}scheduler:epoch</c>) incremented on every takeover and
/// every placement. Epochs come from INCR only, so they never go back, and a placement epoch is issued only while
/// the lease is still ours (checked in the same script): a deposed leader cannot fence in a newer epoch.
/// Not thread-safe: one loop drives it.
/// </summary>
public sealed class SchedulerLease
{
    // KEYS[1] lease, ARGV[1] holder, ARGV[2] ms: extend only our own lease.
    private const string RenewScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        """;
    // KEYS[1] lease, KEYS[2] epoch, ARGV[1] holder, ARGV[2] floor: the next epoch above the floor, or -1 when the lease
    // is not ours. The floor covers a Redis that lost its data (restart without persistence): the counter would start
    // again at 1, below epochs the workers have already applied.
    private const string EpochScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          local epoch = redis.call('INCR', KEYS[2])
          if epoch <= tonumber(ARGV[2]) then
            epoch = tonumber(ARGV[2]) + 1
            redis.call('SET', KEYS[2], epoch)
          end
          return epoch
        end
        return -1
        """;
    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    private readonly IDatabase _db;
    private long _confirmedAt; // Stopwatch timestamp taken before the call that last confirmed the lease
    private bool _leader;

    public SchedulerLease(IConnectionMultiplexer redis, string holderId, TimeSpan leaseTime, string prefix = LoadStateKeys.DefaultPrefix)
    {
        ArgumentNullException.ThrowIfNull(redis);
        ArgumentException.ThrowIfNullOrWhiteSpace(holderId);
        if (leaseTime < TimeSpan.FromMilliseconds(100)) throw new ArgumentOutOfRangeException(nameof(leaseTime), leaseTime, "must be ≥ 100 ms");
        _db = redis.GetDatabase();
        HolderId = holderId;
        LeaseTime = leaseTime;
        LeaseKey = prefix + "scheduler:lease";
        EpochKey = prefix + "scheduler:epoch";
    }

    public string HolderId { get; }
    public TimeSpan LeaseTime { get; }
    public RedisKey LeaseKey { get; }
    public RedisKey EpochKey { get; }

    /// <summary>The epoch taken when this holder last became leader.</summary>
    public long LeaderEpoch { get; private set; }

    /// <summary>True while the lease is ours as far as we can know: confirmed by Redis less than a lease time ago
    /// (measured from before the confirming call, so a lost reply never overstates it).</summary>
    public bool IsLeader => _leader && Stopwatch.GetElapsedTime(_confirmedAt) < LeaseTime;

    /// <summary>Acquires the lease when free or renews it when ours; returns whether we lead. Redis errors propagate
    /// after leadership is dropped: a leader that cannot reach Redis must not act.</summary>
    public async Task<bool> AcquireOrRenewAsync()
    {
        long started = Stopwatch.GetTimestamp();
        try
        {
            bool held;
            if (_leader)
            {
                held = (long)await _db.ScriptEvaluateAsync(RenewScript, [LeaseKey], [HolderId, (long)LeaseTime.TotalMilliseconds])
                    .ConfigureAwait(false) == 1;
            }
            else
            {
                held = await _db.StringSetAsync(LeaseKey, HolderId, LeaseTime, When.NotExists).ConfigureAwait(false);
                if (held) LeaderEpoch = (long)await _db.StringIncrementAsync(EpochKey).ConfigureAwait(false);
            }
            _leader = held;
            if (held) _confirmedAt = started;
            return IsLeader;
        }
        catch
        {
            _leader = false;
            throw;
        }
    }

    /// <summary>The epoch for the next placement, above <paramref name="floor"/> (the newest epoch known to have been
    /// issued, e.g. the last recorded placement), or null when the lease is no longer ours.</summary>
    public async Task<long?> NextEpochAsync(long floor = 0)
    {
        if (!IsLeader) return null;
        long epoch;
        try
        {
            epoch = (long)await _db.ScriptEvaluateAsync(EpochScript, [LeaseKey, EpochKey], [HolderId, floor]).ConfigureAwait(false);
        }
        catch
        {
            _leader = false;
            throw;
        }
        if (epoch < 0) { _leader = false; return null; }
        return epoch;
    }

    /// <summary>Gives the lease up (only if still ours) so a standby need not wait for it to lapse.</summary>
    public async Task ReleaseAsync()
    {
        if (!_leader) return;
        _leader = false;
        await _db.ScriptEvaluateAsync(ReleaseScript, [LeaseKey], [HolderId]).ConfigureAwait(false);
    }
}
