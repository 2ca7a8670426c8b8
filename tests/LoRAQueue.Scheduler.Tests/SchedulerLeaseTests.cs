using System.Diagnostics;
using StackExchange.Redis;

namespace LoRAQueue.Scheduler.Tests;

public class SchedulerLeaseTests(WarmRedisFixture redis) : IClassFixture<WarmRedisFixture>
{
    // Short enough to watch a takeover, long enough that a Redis round trip on a busy 2-core box stays well inside it.
    private static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(2);

    private SchedulerLease NewLease(string prefix, string holder) => new(redis.Redis, holder, LeaseTime, prefix);
    private string NewPrefix() => redis.Prefix + Guid.NewGuid().ToString("N")[..8] + ":";

    [Fact]
    public async Task Of_two_contenders_only_one_leads_and_the_lease_names_it()
    {
        string prefix = NewPrefix();
        var a = NewLease(prefix, "a");
        var b = NewLease(prefix, "b");
        var results = await Task.WhenAll(a.AcquireOrRenewAsync(), b.AcquireOrRenewAsync());
        Assert.Single(results, r => r);
        var leader = a.IsLeader ? a : b;
        var standby = a.IsLeader ? b : a;
        Assert.False(standby.IsLeader);
        Assert.Equal(leader.HolderId, (string?)await redis.Redis.GetDatabase().StringGetAsync(leader.LeaseKey));

        // Renewals keep it: the standby keeps failing well past one lease time.
        for (int i = 0; i < 6; i++)
        {
            Assert.True(await leader.AcquireOrRenewAsync());
            Assert.False(await standby.AcquireOrRenewAsync());
            await Task.Delay(LeaseTime / 3);
        }
        Assert.Null(await standby.NextEpochAsync());
    }

    [Fact]
    public async Task Standby_takes_over_within_the_lease_time_and_epochs_keep_growing()
    {
        string prefix = NewPrefix();
        var first = NewLease(prefix, "first");
        var second = NewLease(prefix, "second");
        var sinceLastRenewal = Stopwatch.StartNew();
        Assert.True(await first.AcquireOrRenewAsync());
        Assert.False(await second.AcquireOrRenewAsync());
        long e1 = first.LeaderEpoch;
        long p1 = (await first.NextEpochAsync())!.Value;
        long p2 = (await first.NextEpochAsync())!.Value;
        Assert.True(e1 < p1 && p1 < p2);

        // The leader stops renewing (a crash); the standby polls every third of a lease.
        while (!await second.AcquireOrRenewAsync())
        {
            Assert.True(sinceLastRenewal.Elapsed < LeaseTime + LeaseTime / 3 + TimeSpan.FromMilliseconds(300),
                $"no takeover {sinceLastRenewal.Elapsed} after the leader stopped renewing");
            await Task.Delay(LeaseTime / 3);
        }
        Assert.True(sinceLastRenewal.Elapsed >= LeaseTime - TimeSpan.FromMilliseconds(50), "took over a lease that had not lapsed");

        long e2 = second.LeaderEpoch;
        long p3 = (await second.NextEpochAsync())!.Value;
        Assert.True(p2 < e2 && e2 < p3, $"epochs {p2} -> {e2} -> {p3} must strictly increase across the takeover");

        // The deposed leader is fenced: it neither renews nor gets an epoch, and knows it is not leading.
        Assert.False(await first.AcquireOrRenewAsync());
        Assert.False(first.IsLeader);
        Assert.Null(await first.NextEpochAsync());
        Assert.Equal("second", (string?)await redis.Redis.GetDatabase().StringGetAsync(second.LeaseKey));
    }

    [Fact]
    public async Task Epochs_stay_above_the_floor_when_redis_lost_the_counter()
    {
        string prefix = NewPrefix();
        var lease = NewLease(prefix, "a");
        Assert.True(await lease.AcquireOrRenewAsync());
        long before = (await lease.NextEpochAsync())!.Value;
        // What a Redis restart without persistence looks like: the counter is gone, the last recorded placement is not.
        await redis.Redis.GetDatabase().KeyDeleteAsync(lease.EpochKey);
        long recorded = before + 40;
        long next = (await lease.NextEpochAsync(floor: recorded))!.Value;
        Assert.Equal(recorded + 1, next);
        Assert.Equal(recorded + 2, (await lease.NextEpochAsync(floor: recorded))!.Value); // the counter itself moved up
    }

    [Fact]
    public async Task A_released_lease_is_taken_at_once()
    {
        string prefix = NewPrefix();
        var first = NewLease(prefix, "first");
        var second = NewLease(prefix, "second");
        Assert.True(await first.AcquireOrRenewAsync());
        await first.ReleaseAsync();
        Assert.False(first.IsLeader);
        Assert.True(await second.AcquireOrRenewAsync());
        Assert.True(second.LeaderEpoch > first.LeaderEpoch);
    }

    [Fact]
    public async Task Lease_key_carries_the_configured_expiry()
    {
        string prefix = NewPrefix();
        var lease = new SchedulerLease(redis.Redis, "x", TimeSpan.FromSeconds(10), prefix);
        Assert.True(await lease.AcquireOrRenewAsync());
        var ttl = await redis.Redis.GetDatabase().KeyTimeToLiveAsync(lease.LeaseKey);
        Assert.NotNull(ttl);
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(10));
        Assert.Equal(prefix + "scheduler:lease", (string)lease.LeaseKey!);
        Assert.Equal(prefix + "scheduler:epoch", (string)lease.EpochKey!);
    }
}
