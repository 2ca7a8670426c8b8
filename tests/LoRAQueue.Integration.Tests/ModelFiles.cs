using LoRAQueue.Formats;

namespace LoRAQueue.Integration.Tests;

/// <summary>
/// A tiny synthetic base model and three adapters (ranks 8, 32, 128) in an adapter store, made once for the whole run.
/// Adapter ids are their directory names: r8, r32, r128.
/// </summary>
public sealed class ModelFiles : IDisposable
{
    public static readonly IReadOnlyDictionary<string, int> AdapterRanks = new Dictionary<string, int> { ["r8"] = 8, ["r32"] = 32, ["r128"] = 128 };

    public ModelFiles()
    {
        Root = Directory.CreateTempSubdirectory("loraqueue-it-").FullName;
        ModelPath = Path.Combine(Root, "model");
        AdapterStorePath = Path.Combine(Root, "adapters");
        SyntheticModel.Create("tiny", ModelPath, seed: 7);
        foreach (var (id, rank) in AdapterRanks)
            SyntheticAdapter.Create(ModelPath, rank, null, Path.Combine(AdapterStorePath, id), seed: (ulong)rank);
    }

    public string Root { get; }
    public string ModelPath { get; }
    public string AdapterStorePath { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
