using LoRAQueue.Formats;

namespace LoRAQueue.Engine.Tests;

/// <summary>The engine's forward pass against <see cref="ReferenceLlama"/> (naive, double precision) on model variants.
/// Tolerance: max |Δlogit| ≤ 1e-3 (logits here are O(0.1–1); F32 accumulation error is ~1e-6).</summary>
public sealed class LlamaModelTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private const double Tolerance = 1e-3;

    public static TheoryData<string> Variants => ["llama-f32", "llama-bf16", "llama-f16", "qwen2-bias-tied", "mistral-window", "gqa-head-dim-32"];

    [Theory]
    [MemberData(nameof(Variants))]
    public void PrefillLogitsMatchReference(string variant)
    {
        string dir = CreateVariant(variant);
        using var model = LlamaModel.Load(dir);
        using var engine = new InferenceEngine(model, null, new EngineOptions { KvCacheBytes = 4L << 20, MaxBatchTokens = 64 });
        var prompt = EngineRunner.Prompt(24, seed: 5);
        var result = EngineRunner.RunAlone(engine, new GenerationRequest("p", prompt, MaxTokens: 1, CaptureLogits: true) { IgnoreEos = true });

        var expected = new ReferenceLlama(dir).LastLogits(prompt);
        var actual = result.Logits![0];
        double maxDiff = 0;
        for (int i = 0; i < expected.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(expected[i] - actual[i]));
        Assert.True(maxDiff <= Tolerance, $"{variant}: max |Δlogit| {maxDiff:E2} > {Tolerance:E0}");
    }

    [Fact]
    public void WeightsOfBf16AndF32AreMappedNotCopied()
    {
        Assert.Equal(new FileInfo(Path.Combine(fixture.ModelDir, "model.safetensors")).Length, fixture.Model.WeightBytes, tolerance: 64 * 1024);
        using var bf16 = LlamaModel.Load(CreateVariant("llama-bf16"));
        Assert.Equal(Kernels.WeightType.BF16, bf16.Layers[0].Linear[0].Type);
        using var f16 = LlamaModel.Load(CreateVariant("llama-f16"));
        Assert.Equal(Kernels.WeightType.F32, f16.Layers[0].Linear[0].Type);
    }

    private string CreateVariant(string variant)
    {
        string dir = Path.Combine(fixture.Root, "variant-" + variant);
        if (File.Exists(Path.Combine(dir, "model.safetensors"))) return dir;
        var random = new Random(3);
        float[] Bias(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5) * 0.2f).ToArray();
        var c = fixture.Model.Config;
        return variant switch
        {
            "llama-f32" => ModelFiles.Derive(fixture.ModelDir, dir, x => x, Keep),
            "llama-bf16" => ModelFiles.Derive(fixture.ModelDir, dir, x => x with { TorchDtype = "bfloat16" }, Keep, DType.BF16),
            "llama-f16" => ModelFiles.Derive(fixture.ModelDir, dir, x => x with { TorchDtype = "float16" }, Keep, DType.F16),
            // qwen2: q/k/v biases, lm_head tied to the embeddings.
            "qwen2-bias-tied" => ModelFiles.Derive(fixture.ModelDir, dir,
                x => x with { ModelType = "qwen2", AttentionBias = true, TieWordEmbeddings = true },
                (name, values, shape) => name == "lm_head.weight" ? [] : Keep(name, values, shape),
                extraTensors: Enumerable.Range(0, c.NumHiddenLayers).SelectMany(l => new[]
                {
                    ($"model.layers.{l}.self_attn.q_proj.bias", Bias(c.QueryDim), new long[] { c.QueryDim }),
                    ($"model.layers.{l}.self_attn.k_proj.bias", Bias(c.KeyValueDim), new long[] { c.KeyValueDim }),
                    ($"model.layers.{l}.self_attn.v_proj.bias", Bias(c.KeyValueDim), new long[] { c.KeyValueDim }),
                }).ToList()),
            // mistral with an 8-token sliding window: a 24-token prompt exercises it.
            "mistral-window" => ModelFiles.Derive(fixture.ModelDir, dir, x => x with { ModelType = "mistral", SlidingWindow = 8 }, Keep),
            // Same q/k/v shapes read as 2 query heads over 1 KV head of 32 dims: another GQA grouping and head
            // width than the tiny model's (4 query heads over 2 KV heads of 16 dims).
            "gqa-head-dim-32" => ModelFiles.Derive(fixture.ModelDir, dir,
                x => x with { NumAttentionHeads = c.QueryDim / 32, NumKeyValueHeads = c.KeyValueDim / 32, HeadDim = 32 }, Keep),
            _ => throw new ArgumentException(variant),
        };
    }

    private static IEnumerable<(string, float[], long[])> Keep(string name, float[] values, long[] shape) => [(name, values, shape)];
}
