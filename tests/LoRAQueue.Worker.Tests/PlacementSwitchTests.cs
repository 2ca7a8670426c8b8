using LoRAQueue.Contracts;
using LoRAQueue.Formats;
using LoRAQueue.History;
using LoRAQueue.InProcess;
using LoRAQueue.Messaging;

namespace LoRAQueue.Worker.Tests;

/// <summary>A placement command, sent to the worker's own queue on an in-process fleet's bus, switches which rank queues a
/// worker consumes and which adapters it holds; commands for other workers, stale epochs and diffs from another state change nothing.</summary>
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

        // Sent to w1's own queue, as the scheduler sends it.
        async Task Send(PlacementCommand command) => await (await fleet.Bus.GetSendEndpoint(PlacementTopology.SendAddress("w1"))).Send(command);
        await Send(new PlacementCommand
        {
            Epoch = 5, BasedOnEpoch = 0, Worker = "w1", LoadAdapters = ["r32"], StartQueues = ["lora-rank-32"], StopQueues = ["lora-rank-8"],
            EvictAdapters = ["r8"], RankQueues = [32], Policy = "loraserve",
        });
        await WaitUntil(() => applier.Epoch == 5);
        Assert.Equal(["lora-rank-32"], endpoints.Connected);
        Assert.Equal(["r32"], node.Adapters.Resident); // r8 evicted: no longer placed here

        // Ignored: another worker's command, a stale epoch, and a diff from a state w1 has left (epoch 0). The last one,
        // applied in order after them, proves they were read.
        await Send(new PlacementCommand { Epoch = 9, BasedOnEpoch = 5, Worker = "w2", StartQueues = ["lora-rank-128"] });
        await Send(new PlacementCommand { Epoch = 4, BasedOnEpoch = 0, Worker = "w1", StartQueues = ["lora-rank-8"] });
        await Send(new PlacementCommand { Epoch = 7, BasedOnEpoch = 0, Worker = "w1", StartQueues = ["lora-rank-128"] });
        await Send(new PlacementCommand
        {
            Epoch = 6, BasedOnEpoch = 5, Worker = "w1", LoadAdapters = ["r8"], StartQueues = ["lora-base", "lora-rank-8"],
            RankQueues = [8, 32], ServesBase = true,
        });
        await WaitUntil(() => applier.Epoch == 6);
        Assert.Equal(["lora-base", "lora-rank-32", "lora-rank-8"], endpoints.Connected.Order(StringComparer.Ordinal));
        Assert.Equal(["r32", "r8"], node.Adapters.Resident.Order(StringComparer.Ordinal));
        Assert.Equal(new int?[] { null, 8, 32 }, worker.Queues);
    }

    private static Task WaitUntil(Func<bool> condition) =>
        Eventually.UntilAsync(() => Task.FromResult(condition()), "the placement to be applied", TimeSpan.FromSeconds(30));
}
