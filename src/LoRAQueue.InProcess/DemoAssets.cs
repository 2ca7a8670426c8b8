using LoRAQueue.Formats;

namespace LoRAQueue.InProcess;

/// <summary>An adapter of the demo's store; its id is its directory name.</summary>
public sealed record DemoAdapter(string Id, int Rank);

/// <summary>
/// The demo's files in the cache: the <c>small</c> model preset and a few random PEFT adapters of each rank in
/// {8, 16, 32, 64, 128}, generated on first use and reused afterwards.
/// </summary>
public sealed record DemoAssets(string ModelPath, string AdapterStorePath, IReadOnlyList<DemoAdapter> Adapters)
{
    public const string Preset = "small";
    public static readonly IReadOnlyList<int> Ranks = [8, 16, 32, 64, 128];

    public static DemoAssets Ensure(string cacheRoot, int adaptersPerRank, IProgress<string> progress)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(adaptersPerRank, 1);
        var model = ModelCache.Ensure(Preset, progress, root: cacheRoot);
        var store = Path.Combine(cacheRoot, "adapters", Path.GetFileName(model));
        var adapters = new List<DemoAdapter>();
        var missing = new List<(DemoAdapter Adapter, ulong Seed)>();
        foreach (int rank in Ranks)
            for (int i = 1; i <= adaptersPerRank; i++)
            {
                var adapter = new DemoAdapter($"r{rank}-{i}", rank);
                adapters.Add(adapter);
                // The seed follows from the id, so a store completed later holds the same bytes as one made at once.
                if (!IsComplete(Path.Combine(store, adapter.Id))) missing.Add((adapter, (ulong)(rank * 1000 + i)));
            }
        if (missing.Count > 0) progress.Report($"generating {missing.Count} adapters into {store} (first run only)");
        foreach (var (adapter, seed) in missing)
        {
            var dir = Path.Combine(store, adapter.Id);
            var tmp = dir + ".tmp";
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            SyntheticAdapter.Create(model, adapter.Rank, null, tmp, seed);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.Move(tmp, dir);
        }
        return new DemoAssets(model, store, adapters);
    }

    private static bool IsComplete(string dir) =>
        File.Exists(Path.Combine(dir, LoraAdapter.ConfigFileName)) && File.Exists(Path.Combine(dir, LoraAdapter.WeightsFileName));
}
