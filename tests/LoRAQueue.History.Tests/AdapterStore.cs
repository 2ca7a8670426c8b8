using LoRAQueue.Core;
using LoRAQueue.Formats;

namespace LoRAQueue.History.Tests;

/// <summary>
/// A temp adapter store next to a tiny synthetic base model, with template adapters (good and bad) that tests
/// copy into the store under ids of their own, so tests sharing a database never share an id.
/// </summary>
public sealed class AdapterStore : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("loraqueue-history-tests-").FullName;

    public AdapterStore()
    {
        string tiny = Path.Combine(_root, "models", "tiny"), small = Path.Combine(_root, "models", "small");
        SyntheticModel.Create("tiny", tiny, seed: 1);
        SyntheticModel.Create("small", small, seed: 2);
        BaseModel = ModelConfig.Load(tiny);
        Directory.CreateDirectory(StorePath);

        SyntheticAdapter.Create(tiny, 8, null, Template("rank8"), seed: 8);
        SyntheticAdapter.Create(tiny, 12, null, Template("rank12"), seed: 12);
        SyntheticAdapter.Create(tiny, 16, null, Template("rank16"), seed: 16);
        SyntheticAdapter.Create(tiny, 8, ["q_proj", "v_proj", "down_proj"], Template("mixed"), seed: 3,
                                rankPattern: new Dictionary<string, int> { ["v_proj"] = 24 });
        SyntheticAdapter.Create(small, 8, null, Template("other-model"), seed: 4);

        SyntheticAdapter.Create(tiny, 8, null, Template("missing-weights"), seed: 5);
        File.Delete(Path.Combine(Template("missing-weights"), LoraAdapter.WeightsFileName));
        SyntheticAdapter.Create(tiny, 8, null, Template("corrupt"), seed: 6);
        File.WriteAllBytes(Path.Combine(Template("corrupt"), LoraAdapter.WeightsFileName), [0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0, 1, 2]);
    }

    public ModelConfig BaseModel { get; }
    public string StorePath => Path.Combine(_root, "store");

    public AdapterValidator Validator(RankBuckets? buckets = null) => new(StorePath, BaseModel, "tiny", buckets);

    /// <summary>Copies a template into the store under a fresh id and returns the id.</summary>
    public string Add(string template)
    {
        string id = $"{template}-{Guid.NewGuid().ToString("N")[..8]}";
        Replace(id, template);
        return id;
    }

    /// <summary>Makes the store's directory <paramref name="id"/> hold <paramref name="template"/>'s files.</summary>
    public void Replace(string id, string template)
    {
        string target = Path.Combine(StorePath, id);
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Directory.CreateDirectory(target);
        foreach (string file in Directory.GetFiles(Template(template)))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
    }

    /// <summary>Bytes of an F32 adapter's tensors: Σ (r·in + out·r)·4 over layers and modules.</summary>
    public long TensorBytes(IReadOnlyDictionary<string, int> rankByModule) =>
        BaseModel.NumHiddenLayers * rankByModule.Sum(m =>
        {
            var (outDim, inDim) = BaseModel.ModuleShape(m.Key);
            return (long)m.Value * (inDim + outDim) * sizeof(float);
        });

    private string Template(string name) => Path.Combine(_root, "templates", name);

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
