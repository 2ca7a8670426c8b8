using LoRAQueue.Contracts;
using LoRAQueue.Formats;
using LoRAQueue.History;
using LoRAQueue.InProcess;

namespace LoRAQueue.Worker.Tests.DataPlane;

/// <summary>Two in-process workers, one that cannot read the store: it serves the adapter from the other's host cache,
/// checked against the digest; a store copy that changed since registration is never served.</summary>
public sealed class PeerPullTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("loraqueue-pull-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private async Task<(InProcessFleet Fleet, FleetWorker A, FleetWorker B)> StartAsync()
    {
        var modelPath = Path.Combine(_root, "model");
        var storePath = Path.Combine(_root, "adapters");
        SyntheticModel.Create("tiny", modelPath, seed: 3);
        SyntheticAdapter.Create(modelPath, 8, null, Path.Combine(storePath, "r8"), seed: 8);
        var registry = new InMemoryAdapterRegistry(AdapterValidator.ForModelDirectory(storePath, modelPath));
        await registry.RegisterAsync("r8", "acme", CancellationToken.None);
        var fleet = await InProcessFleet.StartAsync(new InProcessFleetOptions { Registry = registry, RecordHistory = false }, CancellationToken.None);
        var a = await fleet.AddWorkerAsync(Settings("a", modelPath, storePath), CancellationToken.None);
        var b = await fleet.AddWorkerAsync(Settings("b", modelPath, Directory.CreateDirectory(Path.Combine(_root, "empty")).FullName), CancellationToken.None);
        return (fleet, a, b);
    }

    private static WorkerSettings Settings(string id, string model, string store) =>
        new()
        {
            Id = id, ModelPath = model, AdapterStorePath = store, RankQueues = [], MaxSequences = 2, KvCacheMb = 4, HostCacheBytes = 8 << 20,
            AdapterRecheck = TimeSpan.Zero,
        };

    [Fact]
    public async Task A_worker_without_the_store_loads_the_adapter_from_the_peer_that_holds_it()
    {
        var (fleet, a, b) = await StartAsync();
        await using var _ = fleet;

        var fromStore = await a.Node.Adapters.EnsureLoadedAsync("r8", CancellationToken.None);
        var fromPeer = await b.Node.Adapters.EnsureLoadedAsync("r8", CancellationToken.None);
        var again = await b.Node.Adapters.EnsureLoadedAsync("r8", CancellationToken.None);

        Assert.Equal("store", fromStore.Load!.Source);
        Assert.True(fromPeer.Loaded, fromPeer.Problem);
        Assert.Equal("peer", fromPeer.Load!.Source);
        Assert.Equal(new AdapterLoad("active", 0), again.Load);
        Assert.Equal(["peer", "store"], fleet.Pulls.Rows().Select(r => r.Source));
        Assert.Single(b.Node.HostCache.Digests); // and b now serves it too
    }

    [Fact]
    public async Task With_no_holder_a_worker_that_cannot_read_the_store_fails_the_adapter_with_the_reason()
    {
        var (fleet, _, b) = await StartAsync();
        await using var __ = fleet;
        var failures = new List<AdapterPullFailed>();
        b.Node.Adapters.Fetcher.PullFailed += failures.Add;

        var lookup = await b.Node.Adapters.EnsureLoadedAsync("r8", CancellationToken.None);

        Assert.False(lookup.Loaded);
        Assert.Contains("adapter_config.json is missing", lookup.Problem);
        Assert.Equal("store_missing", Assert.Single(failures).Reason);
    }

    [Fact]
    public async Task A_store_file_changed_after_registration_is_never_served()
    {
        var (fleet, a, _) = await StartAsync();
        await using var __ = fleet;
        var failures = new List<AdapterPullFailed>();
        a.Node.Adapters.Fetcher.PullFailed += failures.Add;
        var weights = Path.Combine(a.Node.Settings.AdapterStorePath, "r8", LoraAdapter.WeightsFileName);
        var bytes = await File.ReadAllBytesAsync(weights);
        bytes[^1] ^= 0xff; // same size, other bytes
        await File.WriteAllBytesAsync(weights, bytes);

        var lookup = await a.Node.Adapters.EnsureLoadedAsync("r8", CancellationToken.None);

        Assert.False(lookup.Loaded);
        Assert.Contains("adapter_model.safetensors does not match its digest", lookup.Problem);
        Assert.Equal("store_mismatch", Assert.Single(failures).Reason);
        Assert.Empty(a.Node.HostCache.Digests); // nothing unverified is kept or advertised
    }

    [Fact]
    public async Task An_adapter_registered_again_with_other_bytes_is_reloaded_instead_of_serving_the_old_ones()
    {
        var (fleet, a, _) = await StartAsync();
        await using var __ = fleet;
        var first = await a.Node.Adapters.EnsureLoadedAsync("r8", CancellationToken.None);
        var store = a.Node.Settings.AdapterStorePath;
        Directory.Delete(Path.Combine(store, "r8"), recursive: true);
        SyntheticAdapter.Create(Path.Combine(_root, "model"), 8, null, Path.Combine(store, "r8"), seed: 99); // new weights
        var second = await fleet.Registry.RegisterAsync("r8", "acme", CancellationToken.None);
        Assert.NotEqual(first.Record!.Digest, second.Digest);

        var reloaded = await a.Node.Adapters.EnsureLoadedAsync("r8", CancellationToken.None); // recheck interval 0 in these tests

        Assert.Equal("store", reloaded.Load!.Source);
        Assert.Equal(second.Digest, reloaded.Record!.Digest);
        Assert.Equal(new AdapterLoad("active", 0), (await a.Node.Adapters.EnsureLoadedAsync("r8", CancellationToken.None)).Load);
    }
}
