using LoRAQueue.Contracts;
using LoRAQueue.Formats;
using LoRAQueue.History;
using LoRAQueue.LoadState;
using LoRAQueue.InProcess;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace LoRAQueue.Worker.Tests;

/// <summary>Against a real Redis (LORAQUEUE__REDIS__CONFIGURATION, as scripts/services.sh sets it): the worker's
/// heartbeat (with the applied epoch), demand and operating points.</summary>
public sealed class RedisReportingTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("loraqueue-worker-redis-").FullName;
    private readonly string _prefix = $"lqtest:{Guid.NewGuid():N}:";

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private static async Task<ConnectionMultiplexer> ConnectAsync() => await ConnectionMultiplexer.ConnectAsync(RedisFixture.Configuration);

    [Fact]
    public async Task The_reporter_writes_heartbeat_demand_operating_points_and_the_applied_epoch()
    {
        var modelPath = Path.Combine(_root, "model");
        var storePath = Path.Combine(_root, "adapters");
        SyntheticModel.Create("tiny", modelPath, seed: 5);
        SyntheticAdapter.Create(modelPath, 8, null, Path.Combine(storePath, "r8"), seed: 8);
        var registry = new InMemoryAdapterRegistry(AdapterValidator.ForModelDirectory(storePath, modelPath));
        await registry.RegisterAsync("r8", "acme", CancellationToken.None);

        await using var redis = await ConnectAsync();
        var state = new RedisLoadState(redis, new LoadStateOptions { DemandBucket = TimeSpan.FromMilliseconds(100) }, _prefix);
        var settings = new WorkerSettings
        {
            Id = "w1", ModelPath = modelPath, AdapterStorePath = storePath, RankQueues = [8], MaxSequences = 2, KvCacheMb = 4,
            LoadReportInterval = TimeSpan.FromMilliseconds(200),
        };
        await using var fleet = await InProcessFleet.StartAsync(new InProcessFleetOptions { Registry = registry, RecordHistory = false },
                                                                CancellationToken.None);
        var worker = await fleet.AddWorkerAsync(settings, CancellationToken.None);
        var (node, endpoints, applier) = (worker.Node, worker.Endpoints, worker.Placement);
        try
        {
            using var reporter = new RedisWorkerReporter(node, endpoints, applier, state, TimeProvider.System,
                                                         NullLogger<RedisWorkerReporter>.Instance);
            await reporter.StartAsync(CancellationToken.None);

            // The gateway counted this job's demand when it admitted it: reported before r8's, and never counted.
            node.Stats.Completed(new CompletedJobSample("r32", 32, PromptTokens: 50, OutputTokens: 50, TimeSpan.FromMilliseconds(10),
                                                        JobsInEngine: 2, DemandRecorded: true));
            node.Stats.Completed(new CompletedJobSample("r8", 8, PromptTokens: 10, OutputTokens: 5, TimeSpan.FromMilliseconds(10), JobsInEngine: 2));
            await applier.ApplyAsync(new PlacementCommand
            {
                Epoch = 3, Worker = "w1", LoadAdapters = ["r8"], StartQueues = ["lora-rank-32"], RankQueues = [8, 32],
            }, CancellationToken.None);

            await WaitUntil(async () => (await state.GetLiveWorkersAsync()).SingleOrDefault() is { Epoch: 3 });
            var heartbeat = (await state.GetLiveWorkersAsync()).Single();
            Assert.Equal([8, 32], heartbeat.RankBuckets);
            Assert.Equal(["r8"], heartbeat.ResidentAdapters);
            Assert.True(heartbeat.CapacityTps > 0);

            await WaitUntil(async () => (await state.GetOperatingPointsAsync("w1")).ContainsKey(32));
            var points = await state.GetOperatingPointsAsync("w1");
            Assert.True(points[0] > 0);
            Assert.True(points[8] <= points[0]);

            await WaitUntil(async () => (await state.GetDemandWindowsAsync(TimeSpan.FromMilliseconds(100), 50))
                .Any(d => d.AdapterId == "r8" && Math.Abs(d.WindowsTps.Sum() * 0.1 - 15) < 1e-6));
            Assert.DoesNotContain(await state.GetDemandWindowsAsync(TimeSpan.FromMilliseconds(100), 50), d => d.AdapterId == "r32");
            await reporter.StopAsync(CancellationToken.None);
            Assert.Empty(await state.GetLiveWorkersAsync()); // a clean stop leaves the load state at once
        }
        finally
        {
            await RedisFixture.DeleteKeysAsync(redis, _prefix);
        }
    }

    private static Task WaitUntil(Func<Task<bool>> condition) =>
        Eventually.UntilAsync(condition, "the load state to show up in Redis", TimeSpan.FromSeconds(60));
}
