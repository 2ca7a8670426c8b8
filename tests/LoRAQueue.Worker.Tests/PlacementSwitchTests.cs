using LoRAQueue.Contracts;
using LoRAQueue.Formats;
using LoRAQueue.History;
using LoRAQueue.InProcess;

namespace LoRAQueue.Worker.Tests;

/// <summary>A placement command, published on an in-process fleet's bus, switches which rank queues a worker consumes
/// and which adapters it holds; commands for other workers and stale epochs change nothing.</summary>
public sealed class PlacementSwitchTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("loraqueue-worker-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_newer_placement_switches_rank_queues_and_prefetches_its_adapters()
    {
        var modelPath = Path.Combine(_root, "model");
        var storePath = Path.Combine(_root, "adapters");
        SyntheticModel.Create("tiny", modelPath, seed: 3);
        SyntheticAdapter.Create(modelPath, 32, null, Path.Combine(storePath, "r32"), seed: 32);
        SyntheticAdapter.Create(modelPath, 8, null, Path.Combine(storePath, "r8"), seed: 8);
        var registry = new InMemoryAdapterRegistry(AdapterValidator.ForModelDirectory(storePath, modelPath));
        await registry.RegisterAsync("r32", "acme", CancellationToken.None);
        await registry.RegisterAsync("r8", "acme", CancellationToken.None);

        await using var fleet = await InProcessFleet.StartAsync(new InProcessFleetOptions { Registry = registry, RecordHistory = false },
                                                                CancellationToken.None);
        var settings = new WorkerSettings { Id = "w1", ModelPath = modelPath, AdapterStorePath = storePath, RankQueues = [8], MaxSequences = 2, KvCacheMb = 4 };
        var worker = await fleet.AddWorkerAsync(settings, CancellationToken.None);
        var (node, endpoints, applier) = (worker.Node, worker.Endpoints, worker.Placement);
        await node.Adapters.EnsureLoadedAsync("r8", CancellationToken.None);
        await fleet.ListenForPlacementAsync(worker, CancellationToken.None);

        await fleet.Bus.Publish(new PlacementCommand { Epoch = 5, Worker = "w1", RankQueues = [32], Adapters = ["r32"], Policy = "loraserve" });
        await WaitUntil(() => applier.Epoch == 5);
        Assert.Equal(["lora-rank-32"], endpoints.Connected);
        Assert.Equal(["r32"], node.Adapters.Resident); // r8 evicted: no longer placed here

        // Ignored: another worker's command and a stale epoch. The last one, applied in order after them, proves they were read.
        await fleet.Bus.Publish(new PlacementCommand { Epoch = 9, Worker = "w2", RankQueues = [128] });
        await fleet.Bus.Publish(new PlacementCommand { Epoch = 4, Worker = "w1", RankQueues = [8] });
        await fleet.Bus.Publish(new PlacementCommand { Epoch = 6, Worker = "w1", RankQueues = [8, 32], ServesBase = true, Adapters = ["r32", "r8"] });
        await WaitUntil(() => applier.Epoch == 6);
        Assert.Equal(["lora-base", "lora-rank-32", "lora-rank-8"], endpoints.Connected.Order(StringComparer.Ordinal));
        Assert.Equal(["r32", "r8"], node.Adapters.Resident.Order(StringComparer.Ordinal));
        Assert.Equal(new int?[] { null, 8, 32 }, worker.Queues);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the placement was not applied within 30 s");
            await Task.Delay(20);
        }
    }
}
