using LoRAQueue.LoadState;

namespace LoRAQueue.LoadState.Tests;

public sealed class AdapterHolderTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private const string Digest = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b";

    private static AdapterHolder Holder(string worker, string digest = Digest) => new()
    {
        Worker = worker, Digest = digest, SizeBytes = 16L << 20, UcxAddress = [1, 2, 3, 4], RemoteAddress = 0x7f00_dead_0000,
        PackedRkey = [9, 8, 7],
    };

    private static WorkerHeartbeat Beat(string id) => new() { Worker = id, CapacityTps = 100, RankBuckets = [8], Epoch = 1 };

    [Fact]
    public async Task Holders_are_listed_with_what_a_peer_needs_to_read_the_bytes()
    {
        var state = redis.NewState();
        await state.WriteHeartbeatAsync(Beat("w2"));
        await state.AdvertiseAsync(Holder("w2"));
        await state.AdvertiseAsync(Holder("w1"));
        await state.AdvertiseAsync(Holder("w1", digest: new string('a', 64)));

        var holders = await state.GetHoldersAsync(Digest);

        Assert.Equal(["w1", "w2"], holders.Select(h => h.Worker));
        Assert.Equal([1, 2, 3, 4], holders[0].UcxAddress);
        Assert.Equal([9, 8, 7], holders[0].PackedRkey);
        Assert.Equal(0x7f00_dead_0000UL, holders[0].RemoteAddress);
        Assert.Equal(16L << 20, holders[0].SizeBytes);
        Assert.True(DateTimeOffset.UtcNow - holders[0].At < TimeSpan.FromMinutes(1), "the write stamps the time");
    }

    [Fact]
    public async Task A_withdrawn_digest_or_a_removed_worker_is_no_longer_a_holder()
    {
        var state = redis.NewState();
        await state.AdvertiseAsync(Holder("evicting"));
        await state.AdvertiseAsync(Holder("leaving"));
        await state.AdvertiseAsync(Holder("staying"));

        await state.WithdrawAsync("evicting", Digest);
        await state.RemoveWorkerAsync("leaving");

        Assert.Equal(["staying"], (await state.GetHoldersAsync(Digest)).Select(h => h.Worker));
    }

    [Fact]
    public async Task What_a_worker_holds_expires_with_its_heartbeat()
    {
        var state = redis.NewState(new LoadStateOptions { HeartbeatTtl = TimeSpan.FromSeconds(1) });
        await state.AdvertiseAsync(Holder("dies"));
        await state.WriteHeartbeatAsync(Beat("lives"), TimeSpan.FromSeconds(30));
        await state.AdvertiseAsync(Holder("lives"));
        await state.WriteHeartbeatAsync(Beat("lives"), TimeSpan.FromSeconds(30)); // the heartbeat extends what it holds

        await Task.Delay(TimeSpan.FromSeconds(1.5));

        Assert.Equal(["lives"], (await state.GetHoldersAsync(Digest)).Select(h => h.Worker));
    }
}
