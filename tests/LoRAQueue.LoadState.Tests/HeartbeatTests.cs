using LoRAQueue.LoadState;

namespace LoRAQueue.LoadState.Tests;

public sealed class HeartbeatTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static WorkerHeartbeat Beat(string id, long epoch = 1) => new()
    {
        Worker = id, CapacityTps = 1500, MemoryFreeBytes = 4L << 30, ResidentAdapters = ["a1", "a2"],
        RankBuckets = [8, 16], ServesBase = true, Epoch = epoch,
    };

    [Fact]
    public async Task Heartbeats_round_trip_and_list_every_live_worker_by_id()
    {
        var state = redis.NewState();
        await state.WriteHeartbeatAsync(Beat("w2"));
        await state.WriteHeartbeatAsync(Beat("w1"));
        await state.WriteHeartbeatAsync(Beat("w1", epoch: 7)); // a refresh replaces, never duplicates

        var live = await state.GetLiveWorkersAsync();

        Assert.Equal(["w1", "w2"], live.Select(w => w.Worker));
        var w1 = live[0];
        Assert.Equal(7, w1.Epoch);
        Assert.Equal(4L << 30, w1.MemoryFreeBytes);
        Assert.Equal(1500, w1.CapacityTps);
        Assert.Equal(["a1", "a2"], w1.ResidentAdapters);
        Assert.Equal([8, 16], w1.RankBuckets);
        Assert.True(w1.ServesBase);
        Assert.True(DateTimeOffset.UtcNow - w1.At < TimeSpan.FromMinutes(1), "the write stamps the heartbeat's time");
    }

    [Fact]
    public async Task An_expired_heartbeat_removes_the_worker_and_its_index_entry()
    {
        var state = redis.NewState();
        await state.WriteHeartbeatAsync(Beat("short-lived"), TimeSpan.FromSeconds(1));
        await state.WriteHeartbeatAsync(Beat("steady"), TimeSpan.FromSeconds(30));
        Assert.Equal(2, (await state.GetLiveWorkersAsync()).Count);

        bool gone = await Eventually.HoldsWithinAsync(
            async () => (await state.GetLiveWorkersAsync()).All(w => w.Worker != "short-lived"), TimeSpan.FromSeconds(10));

        Assert.True(gone, "a heartbeat with a 1 s TTL was still listed after 10 s");
        Assert.Equal(["steady"], (await state.GetLiveWorkersAsync()).Select(w => w.Worker));
        Assert.Null(await redis.Redis.GetDatabase().SortedSetScoreAsync(state.Keys.Workers, "short-lived"));
    }

    [Fact]
    public async Task Removing_a_worker_drops_its_heartbeat_and_operating_points_at_once()
    {
        var state = redis.NewState();
        await state.WriteHeartbeatAsync(Beat("leaving"));
        await state.SetOperatingPointsAsync("leaving", new Dictionary<int, double> { [8] = 900 });

        await state.RemoveWorkerAsync("leaving");

        Assert.Empty(await state.GetLiveWorkersAsync());
        Assert.Empty(await state.GetOperatingPointsAsync("leaving"));
    }

    [Fact]
    public async Task Operating_points_are_replaced_whole_and_carry_a_ttl()
    {
        var state = redis.NewState();
        await state.SetOperatingPointsAsync("w", new Dictionary<int, double> { [0] = 2000, [8] = 1200.5, [64] = 700 });
        await state.SetOperatingPointsAsync("w", new Dictionary<int, double> { [8] = 1100, [128] = 400.25 });

        var points = await state.GetOperatingPointsAsync("w");

        Assert.Equal(new Dictionary<int, double> { [8] = 1100, [128] = 400.25 }, points);
        var ttl = await redis.Redis.GetDatabase().KeyTimeToLiveAsync(state.Keys.OperatingPoints("w"));
        Assert.NotNull(ttl);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => state.SetOperatingPointsAsync("w", new Dictionary<int, double> { [8] = double.NaN }));
    }
}
