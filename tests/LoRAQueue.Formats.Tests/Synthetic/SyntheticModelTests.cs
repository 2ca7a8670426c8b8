using System.Text.Json;

namespace LoRAQueue.Formats.Tests.Synthetic;

public class SyntheticModelTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void ConfigDescribesThePresetAndMatchesTheTokenizer()
    {
        var config = ModelConfig.Load(tiny.Directory);
        var tokenizer = ModelTokenizer.Load(tiny.Directory);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(tiny.Directory, "config.json")));

        Assert.Equal("llama", config.ModelType);
        Assert.Equal("LlamaForCausalLM", json.RootElement.GetProperty("architectures")[0].GetString());
        Assert.Equal((64, 2, 4, 2, 16, 176, 512, 512), (config.HiddenSize, config.NumHiddenLayers, config.NumAttentionHeads,
            config.NumKeyValueHeads, config.HeadDim, config.IntermediateSize, config.VocabSize, config.MaxPositionEmbeddings));
        Assert.Equal("float32", config.TorchDtype);
        Assert.False(config.TieWordEmbeddings);
        Assert.Equal(tokenizer.BosId, config.BosTokenId);
        Assert.Equal([tokenizer.EosId!.Value], config.EosTokenIds);
        Assert.Equal(config.VocabSize, tokenizer.VocabCount);
        Assert.True(File.Exists(Path.Combine(tiny.Directory, "generation_config.json")));
        Assert.Equal("The tiny model.", tokenizer.Decode(tokenizer.Encode("The tiny model.")));
    }

    [Fact]
    public void WeightsHoldEveryTensorWithTheRightShape()
    {
        var config = ModelConfig.Load(tiny.Directory);
        using var weights = ModelWeights.Open(tiny.Directory);
        var expected = new Dictionary<string, long[]>
        {
            ["model.embed_tokens.weight"] = [512, 64],
            ["model.norm.weight"] = [64],
            ["lm_head.weight"] = [512, 64],
        };
        for (int layer = 0; layer < 2; layer++)
        {
            expected[$"model.layers.{layer}.input_layernorm.weight"] = [64];
            expected[$"model.layers.{layer}.post_attention_layernorm.weight"] = [64];
            foreach (string module in ModelConfig.LinearModules)
            {
                var (outDim, inDim) = config.ModuleShape(module);
                string parent = module is "gate_proj" or "up_proj" or "down_proj" ? "mlp" : "self_attn";
                expected[$"model.layers.{layer}.{parent}.{module}.weight"] = [outDim, inDim];
            }
        }

        Assert.Equal(expected.Keys.Order(), weights.Names.Order());
        foreach (var (name, shape) in expected)
        {
            Assert.Equal(shape, weights.Info(name).Shape);
            Assert.Equal(DType.F32, weights.Info(name).DType);
        }
        Assert.Equal(tiny.Preset.ParameterCount, expected.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b)));
    }

    [Fact]
    public void LinearWeightsAreNormalWithStd002AndNormsAreOne()
    {
        using var weights = ModelWeights.Open(tiny.Directory);

        var embedding = weights.ReadFloat32("model.embed_tokens.weight");
        double mean = embedding.Average(v => (double)v);
        double std = Math.Sqrt(embedding.Average(v => (v - mean) * (v - mean)));
        double within1Sigma = embedding.Count(v => Math.Abs(v) < 0.02) / (double)embedding.Length;

        Assert.InRange(mean, -0.0005, 0.0005);
        Assert.InRange(std, 0.0196, 0.0204);
        Assert.InRange(within1Sigma, 0.673, 0.693); // a normal distribution puts 68.3% within one σ
        Assert.All(weights.ReadFloat32("model.layers.1.post_attention_layernorm.weight"), v => Assert.Equal(1f, v));
        Assert.NotEqual(weights.ReadFloat32("model.layers.0.self_attn.q_proj.weight"), weights.ReadFloat32("model.layers.1.self_attn.q_proj.weight"));
    }

    [Fact]
    public void TheSameSeedGivesTheSameBytesAndAnotherSeedDoesNot()
    {
        using var dir = new TempDirectory();
        SyntheticModel.Create("tiny", dir.Combine("same"), TinyModelFixture.Seed);
        SyntheticModel.Create("tiny", dir.Combine("other"), TinyModelFixture.Seed + 1);

        byte[] original = File.ReadAllBytes(Path.Combine(tiny.Directory, "model.safetensors"));
        Assert.Equal(original, File.ReadAllBytes(Path.Combine(dir.Combine("same"), "model.safetensors")));
        Assert.NotEqual(original, File.ReadAllBytes(Path.Combine(dir.Combine("other"), "model.safetensors")));
        foreach (string file in new[] { "config.json", "tokenizer.model", "tokenizer_config.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(tiny.Directory, file)), File.ReadAllBytes(Path.Combine(dir.Combine("other"), file)));
    }

    [Fact]
    public void Bf16HoldsTheSameValuesRoundedToBf16()
    {
        using var dir = new TempDirectory();
        SyntheticModel.Create("tiny", dir.Path, TinyModelFixture.Seed, DType.BF16);
        using var bf16 = ModelWeights.Open(dir.Path);
        using var f32 = ModelWeights.Open(tiny.Directory);

        Assert.Equal("bfloat16", ModelConfig.Load(dir.Path).TorchDtype);
        Assert.Equal(DType.BF16, bf16.Info("model.layers.0.mlp.down_proj.weight").DType);
        var rounded = bf16.ReadFloat32("model.layers.0.mlp.down_proj.weight");
        var exact = f32.ReadFloat32("model.layers.0.mlp.down_proj.weight");
        for (int i = 0; i < exact.Length; i++)
            Assert.True(Math.Abs(rounded[i] - exact[i]) <= Math.Abs(exact[i]) / 256, $"element {i}: {rounded[i]} vs {exact[i]}");
    }

    [Fact]
    public void LargeModelsAreShardedWithAnIndexAndOldWeightsAreReplaced()
    {
        using var dir = new TempDirectory();
        SyntheticModel.Create("tiny", dir.Path, TinyModelFixture.Seed, maxShardBytes: 200_000);

        var shards = Directory.GetFiles(dir.Path, "model-*-of-*.safetensors");
        Assert.True(shards.Length >= 3, $"{shards.Length} shards");
        Assert.All(shards, s => Assert.True(new FileInfo(s).Length < 200_000 + 4096));
        using (var sharded = ModelWeights.Open(dir.Path))
        using (var single = ModelWeights.Open(tiny.Directory))
        {
            Assert.Equal(single.Names.Order(), sharded.Names.Order());
            Assert.Equal(single.ReadFloat32("lm_head.weight"), sharded.ReadFloat32("lm_head.weight"));
        }

        SyntheticModel.Create("tiny", dir.Path, TinyModelFixture.Seed);
        Assert.Equal(["model.safetensors"], Directory.GetFiles(dir.Path, "model*").Select(Path.GetFileName));
    }

    [Fact]
    public void ProgressRisesToOne()
    {
        var values = tiny.Progress.Values;

        Assert.True(values.Count >= 2);
        Assert.All(values.Zip(values.Skip(1)), p => Assert.True(p.Second >= p.First));
        Assert.Equal(1.0, values[^1]);
    }

    [Fact]
    public void PresetsHaveTheAdvertisedSizes()
    {
        Assert.Equal(["1b", "medium", "small", "tiny"], SyntheticModel.Presets.Keys.Order());
        Assert.True(SyntheticModel.Presets["medium"].WeightBytes >= 256L << 20);
        Assert.Equal(DType.BF16, SyntheticModel.Presets["medium"].DType);
        Assert.Equal(1_100_048_384, SyntheticModel.Presets["1b"].ParameterCount); // TinyLlama-1.1B's parameter count
        Assert.Equal(64, SyntheticModel.Presets["1b"].HeadDim);
    }

    [Fact]
    public void UnknownPresetsAndImpossibleShapesAreRejected()
    {
        using var dir = new TempDirectory();

        var unknown = Assert.Throws<ArgumentException>(() => SyntheticModel.Create("huge", dir.Path, 1));
        Assert.Contains("tiny", unknown.Message);
        Assert.Throws<ArgumentException>(() => SyntheticModel.Create(tiny.Preset with { NumKeyValueHeads = 3 }, dir.Path, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticModel.Create(tiny.Preset with { VocabSize = 100 }, dir.Path, 1));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}
