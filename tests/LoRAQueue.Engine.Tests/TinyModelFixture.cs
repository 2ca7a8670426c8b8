using LoRAQueue.Formats;

namespace LoRAQueue.Engine.Tests;

/// <summary>A `tiny` synthetic model (F32: hidden 64, 2 layers, 4 heads / 2 KV heads, vocab 512, 512 positions) and
/// adapters of ranks 8, 16 and 64 plus one with a rank_pattern, generated once per test class in a temp dir.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public static readonly string[] AllModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "loraqueue-engine-tests-" + Guid.NewGuid().ToString("N"));
    public string ModelDir { get; }
    public LlamaModel Model { get; }
    public ModelTokenizer Tokenizer { get; }
    public IReadOnlyDictionary<string, string> AdapterDirs { get; }
    public IReadOnlyDictionary<string, LoraAdapter> Adapters { get; }

    public TinyModelFixture()
    {
        ModelDir = Path.Combine(Root, "tiny");
        SyntheticModel.Create("tiny", ModelDir, seed: 1, DType.F32);
        var dirs = new Dictionary<string, string>
        {
            ["r8"] = CreateAdapter("r8", 8, AllModules, seed: 11),
            ["r16"] = CreateAdapter("r16", 16, null, seed: 12), // q, k, v, o only
            ["r64"] = CreateAdapter("r64", 64, AllModules, seed: 13),
            ["pattern"] = CreateAdapter("pattern", 8, AllModules, seed: 14,
                new Dictionary<string, int> { ["v_proj"] = 4, ["o_proj"] = 32 }),
        };
        AdapterDirs = dirs;
        Model = LlamaModel.Load(ModelDir);
        Tokenizer = ModelTokenizer.Load(ModelDir);
        Adapters = dirs.ToDictionary(p => p.Key, p => LoraAdapter.Load(p.Value, Model.Config));
    }

    private string CreateAdapter(string name, int rank, IReadOnlyList<string>? targets, ulong seed,
                                 IReadOnlyDictionary<string, int>? rankPattern = null)
    {
        string dir = Path.Combine(Root, "adapter-" + name);
        SyntheticAdapter.Create(ModelDir, rank, targets, dir, seed, rankPattern);
        return dir;
    }

    /// <summary>An engine over the fixture's model with every adapter loaded under its name.</summary>
    public InferenceEngine NewEngine(EngineOptions? options = null, LlamaModel? model = null)
    {
        var engine = new InferenceEngine(model ?? Model, Tokenizer, options ?? new EngineOptions { KvCacheBytes = 8L << 20 });
        foreach (var (id, adapter) in Adapters) engine.LoadAdapter(id, adapter);
        return engine;
    }

    public void Dispose()
    {
        Model.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
