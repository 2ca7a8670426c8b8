using LoRAQueue.Contracts;
using LoRAQueue.Core;
using LoRAQueue.History;
using LoRAQueue.LoadState;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoRAQueue.Scheduler.Tests;

/// <summary>The loop end to end on real Redis and Postgres, publishing into MassTransit's in-memory test harness.</summary>
public class PlacementLoopTests(WarmRedisFixture redis, PostgresFixture postgres) : IClassFixture<WarmRedisFixture>, IClassFixture<PostgresFixture>
{
    private static readonly SchedulerOptions Options = new() { Policy = "loraserve", LeaseTime = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task Leader_sends_each_worker_its_own_diff_under_a_fresh_epoch_and_records_it_standby_sends_nothing()
    {
        string prefix = redis.Prefix + Guid.NewGuid().ToString("N")[..8] + ":";
        var state = new RedisLoadState(redis.Redis, prefix: prefix);
        foreach (var worker in new[] { "w1", "w2" })
        {
            await state.WriteHeartbeatAsync(new WorkerHeartbeat { Worker = worker, MemoryFreeBytes = 1L << 30 });
            await state.SetOperatingPointsAsync(worker, new Dictionary<int, double> { [8] = 100, [128] = 50 });
        }
        var past = DateTimeOffset.UtcNow.AddSeconds(-30);
        // Steady demand in every window read: the forecaster discounts a lone burst.
        for (int window = 0; window < Options.DemandWindows; window++)
        {
            await state.RecordDemandAsync("a8", 1200, past - window * Options.Window);
            await state.RecordDemandAsync("a128", 600, past - window * Options.Window);
        }
        var registry = new FixedRegistry(new AdapterRecord("a8", "t", "/a8", 8, 8, 1000, 7, past),
                                         new AdapterRecord("a128", "t", "/a128", 128, 128, 8000, 7, past));
        var history = new PlacementHistory(postgres.DataSource);

        await using var provider = new ServiceCollection().AddMassTransitTestHarness().BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();

        var leaderLease = new SchedulerLease(redis.Redis, "leader", Options.LeaseTime, prefix);
        var standbyLease = new SchedulerLease(redis.Redis, "standby", Options.LeaseTime, prefix);
        Assert.True(await leaderLease.AcquireOrRenewAsync());
        Assert.False(await standbyLease.AcquireOrRenewAsync());
        PlacementLoop Loop(SchedulerLease lease) => new(Options, lease, state, registry, history, new NoQueues(), harness.Bus,
                                                        RankBuckets.Default, TimeProvider.System, NullLogger<PlacementLoop>.Instance);
        var leader = Loop(leaderLease);
        var standby = Loop(standbyLease);

        await standby.CheckAsync(default);
        await leader.CheckAsync(default);
        await leader.CheckAsync(default); // no drift, within the minimum interval: nothing new

        Assert.True(await harness.Sent.Any<PlacementCommand>());
        Assert.False(await harness.Published.Any<PlacementCommand>(), "commands go to each worker's own queue, not to a fan-out");
        var sent = harness.Sent.Select<PlacementCommand>().ToList();
        Assert.All(sent, m => Assert.Contains($"placement-{m.Context.Message.Worker}", m.Context.DestinationAddress!.ToString()));
        var commands = sent.Select(m => m.Context.Message).ToList();
        Assert.Equal(["w1", "w2"], commands.Select(c => c.Worker).Order(StringComparer.Ordinal));
        Assert.All(commands, c => Assert.Equal(0, c.BasedOnEpoch)); // the heartbeats were on no placement yet
        long epoch = commands[0].Epoch;
        Assert.All(commands, c => Assert.Equal(epoch, c.Epoch));
        Assert.True(epoch > leaderLease.LeaderEpoch);
        Assert.All(commands, c => Assert.Equal("loraserve", c.Policy));
        // Every adapter with demand is loaded by a worker that starts consuming its bucket's queue; the diffs are the recorded moves.
        Assert.Contains(commands, c => c.LoadAdapters.Contains("a8") && c.StartQueues.Contains("lora-rank-8") && c.RankQueues.Contains(8));
        Assert.Contains(commands, c => c.LoadAdapters.Contains("a128") && c.StartQueues.Contains("lora-rank-128") && c.RankQueues.Contains(128));

        var recorded = await history.GetLatestAsync(default);
        Assert.NotNull(recorded);
        Assert.Equal(epoch, recorded!.Epoch);
        Assert.Equal(new PlacementInputs(2, 2, recorded.Inputs.TotalDemandTps), recorded.Inputs);
        Assert.True(recorded.Inputs.TotalDemandTps > 0);
        Assert.Equal(["w1", "w2"], recorded.Plan.Workers.Select(w => w.Id).Order(StringComparer.Ordinal));
        Assert.Equal(commands.Sum(c => c.LoadAdapters.Length), recorded.Moves!.AdapterLoads);
        Assert.Equal(commands.Sum(c => c.StartQueues.Length + c.StopQueues.Length), recorded.Moves.QueueChanges);
        await harness.Stop();
    }

    private sealed class NoQueues : LoRAQueue.Messaging.IQueueDepthReader
    {
        public Task<IReadOnlyDictionary<string, long>> ReadAsync(CancellationToken ct) =>
            Task.FromResult<IReadOnlyDictionary<string, long>>(new Dictionary<string, long>());
    }

    private sealed class FixedRegistry(params AdapterRecord[] records) : IAdapterRegistry
    {
        public Task<AdapterRecord> RegisterAsync(string id, string tenant, CancellationToken ct) =>
            throw new InvalidOperationException("the scheduler only reads the registry");
        public Task<AdapterRecord?> GetAsync(string id, CancellationToken ct) => Task.FromResult(records.FirstOrDefault(r => r.Id == id));
        public Task<IReadOnlyList<AdapterRecord>> ListAsync(string? tenant, CancellationToken ct) => Task.FromResult<IReadOnlyList<AdapterRecord>>(records);
    }
}
