using LoRAQueue.LoadState;

namespace LoRAQueue.LoadState.Tests;

public sealed class DemandWindowTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(20);

    /// <summary>The start of the 10 s bucket in progress: where the read windows end.</summary>
    private static DateTimeOffset CurrentBucketStart(DateTimeOffset now) =>
        DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds() / 10_000 * 10_000);

    [Fact]
    public async Task Windows_sum_their_buckets_as_tokens_per_second_and_leave_out_older_and_unfinished_ones()
    {
        var state = redis.NewState();
        var now = DateTimeOffset.UtcNow;
        var end = CurrentBucketStart(now);
        async Task At(string? adapter, double seconds, double tokens) => await state.RecordDemandAsync(adapter, tokens, end.AddSeconds(seconds));

        // Windows read: [end−60, end−40), [end−40, end−20), [end−20, end).
        await At("a1", -55, 100); await At("a1", -45, 300);          // 400 tokens / 20 s = 20 tok/s
        await At("a1", -25, 200);                                    // 10 tok/s
        await At("a1", -5, 40);                                      // 2 tok/s
        await At("a1", 0, 1000);                                     // the bucket in progress: left out
        await At("a1", -65, 500);                                    // before the first window: left out
        await At(null, -15, 60);                                     // base model: 3 tok/s
        await At("a2", -35, 20);                                     // 1 tok/s
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => At("a3", -50, 4))); // concurrent writers add up: 10 tok/s

        var windows = await state.GetDemandWindowsAsync(Window, 3, now);

        Assert.Equal([null, "a1", "a2", "a3"], windows.Select(w => w.AdapterId));
        Assert.Equal([0, 0, 3], windows[0].WindowsTps);
        Assert.Equal([20, 10, 2], windows[1].WindowsTps);
        Assert.Equal([0, 1, 0], windows[2].WindowsTps);
        Assert.Equal([10, 0, 0], windows[3].WindowsTps);

        var lastOnly = await state.GetDemandWindowsAsync(Window, 1, now);
        Assert.Equal([2.0], lastOnly.Single(w => w.AdapterId == "a1").WindowsTps);
    }

    [Fact]
    public async Task Demand_buckets_expire_after_the_retention_and_the_adapter_drops_out()
    {
        var bucket = TimeSpan.FromMilliseconds(100);
        var state = redis.NewState(new LoadStateOptions { DemandBucket = bucket, DemandRetention = TimeSpan.FromSeconds(1) });
        var recorded = DateTimeOffset.UtcNow;
        await state.RecordDemandAsync("fleeting", 50, recorded);

        var fresh = await state.GetDemandWindowsAsync(bucket, 4, recorded + bucket);
        Assert.Equal(500, fresh.Single().WindowsTps[^1], 6);

        bool expired = await Eventually.HoldsWithinAsync(
            async () => (await state.GetDemandWindowsAsync(bucket, 4)).Count == 0, TimeSpan.FromSeconds(10));
        Assert.True(expired, "demand recorded with a 1 s retention was still listed after 10 s");
        long index = recorded.ToUnixTimeMilliseconds() / 100;
        Assert.False(await redis.Redis.GetDatabase().KeyExistsAsync(state.Keys.DemandBucket("a:fleeting", index)));
    }

    [Fact]
    public async Task Demand_older_than_the_retention_is_not_stored()
    {
        var state = redis.NewState();
        await state.RecordDemandAsync("stale", 1000, DateTimeOffset.UtcNow.AddHours(-1));

        Assert.Empty(await state.GetDemandWindowsAsync(TimeSpan.FromMinutes(1), 5));
    }

    [Fact]
    public async Task Windows_must_be_whole_buckets_within_the_retention()
    {
        var state = redis.NewState();
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => state.GetDemandWindowsAsync(TimeSpan.FromSeconds(15), 2));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => state.GetDemandWindowsAsync(TimeSpan.FromMinutes(1), 11));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => state.RecordDemandAsync("a", -1, DateTimeOffset.UtcNow));
    }
}
