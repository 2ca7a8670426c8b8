using LoRAQueue.Core.Placement;
using LoRAQueue.LoadState;

namespace LoRAQueue.LoadState.Tests;

public sealed class SnapshotTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly Dictionary<string, AdapterInfo> Registry = new()
    {
        ["chat-r8"] = new(8, 20L << 20), ["code-r16"] = new(16, 40L << 20), ["math-r64"] = new(64, 160L << 20),
    };

    private static AdapterInfo? Lookup(string id) => Registry.TryGetValue(id, out var info) ? info : null;

    [Fact]
    public async Task A_snapshot_assembled_from_redis_round_trips_and_the_loraserve_policy_places_it()
    {
        var state = redis.NewState();
        var points = new Dictionary<int, double> { [0] = 3000, [8] = 2000, [16] = 1800, [64] = 1200, [128] = 900 };
        foreach (var id in new[] { "w1", "w2", "w3" })
        {
            await state.WriteHeartbeatAsync(new WorkerHeartbeat { Worker = id, MemoryFreeBytes = 1L << 30, RankBuckets = [8], Epoch = 4 });
            await state.SetOperatingPointsAsync(id, points);
        }
        await state.WriteHeartbeatAsync(new WorkerHeartbeat { Worker = "uncalibrated", MemoryFreeBytes = 1L << 30 });

        var now = DateTimeOffset.UtcNow;
        var end = DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds() / 10_000 * 10_000);
        foreach (var (adapter, tokens) in new (string?, double)[] { ("chat-r8", 24_000), ("code-r16", 12_000), ("math-r64", 6_000),
                                                                     (null, 3_000), ("not-registered", 9_000) })
            for (int minute = 1; minute <= 3; minute++)
                await state.RecordDemandAsync(adapter, tokens, end.AddMinutes(-minute).AddSeconds(5));

        var snapshot = await state.ReadSnapshotAsync(Lookup, TimeSpan.FromMinutes(1), 3, now: now);

        Assert.Equal(["w1", "w2", "w3"], snapshot.Workers.Select(w => w.Id));
        Assert.All(snapshot.Workers, w => Assert.Equal(points, w.OperatingPoints));
        Assert.All(snapshot.Workers, w => Assert.Equal(1L << 30, w.MemoryBytes));
        Assert.Equal([null, "chat-r8", "code-r16", "math-r64"], snapshot.Adapters.Select(a => a.Id));
        var chat = snapshot.Adapters[1];
        Assert.Equal((8, 20L << 20), (chat.Rank, chat.SizeBytes));
        Assert.Equal([400, 400, 400], chat.DemandWindows!);
        Assert.Equal(400, chat.DemandTps, 6); // a flat series forecasts itself
        Assert.Equal(50, snapshot.Adapters[0].DemandTps, 6);

        var reread = PlacementJson.ReadSnapshot(PlacementJson.Write(snapshot));
        Assert.Equal(snapshot.Adapters.Select(a => (a.Id, a.Rank, a.SizeBytes, a.DemandTps)),
                     reread.Adapters.Select(a => (a.Id, a.Rank, a.SizeBytes, a.DemandTps)));

        var plan = PlacementPolicies.Create("loraserve").Plan(reread, null);

        Assert.Equal(3, plan.Workers.Count);
        Assert.Equal(3, plan.Budgets.Values.Sum());
        Assert.Empty(plan.Unplaced);
        foreach (var id in Registry.Keys)
            Assert.Contains(plan.Workers, w => w.Adapters.Contains(id));
    }
}
