using LoRAQueue.Core.Placement;
using LoRAQueue.Scheduler;

namespace LoRAQueue.Cli.Tests;

/// <summary>`loraqueue placement show` prints the scheduler's latest recorded placement from the real Postgres.</summary>
public sealed class PlacementShowTests
{
    [Fact]
    public async Task Shows_the_placement_with_the_largest_epoch()
    {
        await using var database = await PostgresServer.CreateDatabaseAsync();
        var empty = await CliRun.InvokeAsync("placement", "show", "--connection", database.ConnectionString);
        Assert.Equal(1, empty.ExitCode);
        Assert.Contains("no placement recorded yet", empty.Error);

        var snapshot = PlacementJson.ReadSnapshot("""
            {"workers": [{"id": "w1", "memory_bytes": 1000000000, "operating_points": {"8": 2000, "128": 1500}}],
             "adapters": [{"id": "a8", "rank": 8, "size_bytes": 1000000, "demand_tps": 100}]}
            """);
        var history = new PlacementHistory(database.DataSource);
        foreach (var epoch in new long[] { 3, 7, 5 })
        {
            var plan = PlacementPolicies.Create("loraserve").Plan(snapshot, null);
            await history.RecordAsync(new PlacementRecord(epoch, "loraserve", "window", DateTimeOffset.UtcNow,
                new PlacementInputs(1, 1, 100), plan, null), CancellationToken.None);
        }

        var shown = await CliRun.InvokeAsync("placement", "show", "--connection", database.ConnectionString);

        Assert.True(shown.ExitCode == 0, shown.ToString());
        Assert.StartsWith("epoch 7, policy loraserve", shown.Output);
        Assert.Contains("\"a8\"", shown.Output);

        // With Redis: each live worker's applied epoch from its heartbeat, and who is behind the latest placement.
        var redisConfiguration = Environment.GetEnvironmentVariable("LORAQUEUE__REDIS__CONFIGURATION")
            ?? throw new InvalidOperationException("LORAQUEUE__REDIS__CONFIGURATION is not set: run the tests with scripts/test.sh");
        string prefix = $"lq-test-{Guid.NewGuid():N}:";
        await using (var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redisConfiguration))
        {
            var state = new LoRAQueue.LoadState.RedisLoadState(redis, prefix: prefix);
            await state.WriteHeartbeatAsync(new LoRAQueue.LoadState.WorkerHeartbeat { Worker = "w1", Epoch = 7 });
            await state.WriteHeartbeatAsync(new LoRAQueue.LoadState.WorkerHeartbeat { Worker = "w2", Epoch = 5 });
        }
        var withWorkers = await CliRun.InvokeAsync("placement", "show", "--connection", database.ConnectionString,
                                                   "--redis", redisConfiguration, "--redis-prefix", prefix);
        Assert.True(withWorkers.ExitCode == 0, withWorkers.ToString());
        Assert.Contains("workers: w1 on epoch 7, w2 on epoch 5 (behind); 1 behind", withWorkers.Output);
    }
}
