using LoRAQueue.Kernels;

namespace LoRAQueue.Engine.Tests;

/// <summary>Multi-LoRA batching against references built without the LoRA kernels.
/// Tolerances: tokens are compared exactly (greedy); logits to max |Δ| ≤ 2e-3 against a model with the adapter merged
/// into its weights (W + s·B·A by plain loops; F32 summation order differs, the observed error is ~1e-5),
/// and ≤ 1e-4 between the segmented and padded kernels and between batched and alone runs.</summary>
public sealed class MultiLoraTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private const float MergedTolerance = 2e-3f;
    private const float SameMathTolerance = 1e-4f;

    private static GenerationRequest Request(string id, string? adapter, int promptLength, int seed, int maxTokens = 8) =>
        new(id, EngineRunner.Prompt(promptLength, seed), adapter, MaxTokens: maxTokens, CaptureLogits: true) { IgnoreEos = true };

    private static readonly GenerationRequest[] MixedBatch =
    [
        Request("rank8", "r8", 11, seed: 1),
        Request("rank16", "r16", 23, seed: 2),
        Request("rank64", "r64", 7, seed: 3),
        Request("base", null, 16, seed: 4),
    ];

    [Fact]
    public void MixedRankBatchMatchesAloneAndMergedModel()
    {
        using var engine = fixture.NewEngine();
        var batched = EngineRunner.RunAll(engine, MixedBatch);

        foreach (var (request, result) in MixedBatch.Zip(batched))
        {
            var alone = EngineRunner.RunAlone(engine, request);
            Assert.Equal(alone.OutputTokens, result.OutputTokens);
            for (int i = 0; i < alone.Logits!.Count; i++)
                Assert.InRange(EngineRunner.MaxAbsDifference(alone.Logits[i], result.Logits![i]), 0, SameMathTolerance);

            var merged = RunOnMergedModel(request);
            Assert.Equal(merged.OutputTokens, result.OutputTokens);
            for (int i = 0; i < merged.Logits!.Count; i++)
                Assert.InRange(EngineRunner.MaxAbsDifference(merged.Logits[i], result.Logits![i]), 0, MergedTolerance);
        }
        // The adapters really change the output (otherwise the comparisons above prove nothing).
        var baseTokens = EngineRunner.RunAlone(engine, MixedBatch[0] with { AdapterId = null }).Logits![0];
        Assert.True(EngineRunner.MaxAbsDifference(baseTokens, batched[0].Logits![0]) > 20 * MergedTolerance);
    }

    [Fact]
    public void RankPatternModulesMatchMergedModel()
    {
        var adapter = fixture.Adapters["pattern"];
        Assert.Contains(adapter.Modules, m => m.Module == "v_proj" && m.Rank == 4);
        Assert.Contains(adapter.Modules, m => m.Module == "o_proj" && m.Rank == 32);
        Assert.Contains(adapter.Modules, m => m.Module == "q_proj" && m.Rank == 8);

        using var engine = fixture.NewEngine();
        var request = Request("pattern", "pattern", 19, seed: 9);
        // Batched with other ranks so the per-module stride differs from the adapter's own ranks.
        var results = EngineRunner.RunAll(engine, [request, Request("other", "r64", 5, seed: 10), Request("plain", null, 9, seed: 11)]);
        var merged = RunOnMergedModel(request);
        Assert.Equal(merged.OutputTokens, results[0].OutputTokens);
        for (int i = 0; i < merged.Logits!.Count; i++)
            Assert.InRange(EngineRunner.MaxAbsDifference(merged.Logits[i], results[0].Logits![i]), 0, MergedTolerance);
    }

    [Fact]
    public void SegmentedAndPaddedKernelsGiveTheSameTokensAndLogits()
    {
        using var segmented = fixture.NewEngine(new EngineOptions { KvCacheBytes = 8L << 20, LoraKernel = MultiLoraKernels.Segmented });
        using var padded = fixture.NewEngine(new EngineOptions { KvCacheBytes = 8L << 20, LoraKernel = MultiLoraKernels.Padded });
        var a = EngineRunner.RunAll(segmented, MixedBatch);
        var b = EngineRunner.RunAll(padded, MixedBatch);
        for (int r = 0; r < a.Count; r++)
        {
            Assert.Equal(a[r].OutputTokens, b[r].OutputTokens);
            for (int i = 0; i < a[r].Logits!.Count; i++)
                Assert.InRange(EngineRunner.MaxAbsDifference(a[r].Logits![i], b[r].Logits![i]), 0, SameMathTolerance);
        }
    }

    [Fact]
    public void UnloadedAdapterIsUnknownForNewRequests()
    {
        using var engine = fixture.NewEngine();
        Assert.True(engine.UnloadAdapter("r8"));
        Assert.False(engine.UnloadAdapter("r8"));
        var e = Assert.Throws<ArgumentException>(() => { _ = engine.Submit(Request("x", "r8", 4, seed: 1)); });
        Assert.Contains("unknown adapter 'r8'", e.Message);
    }

    private GenerationResult RunOnMergedModel(GenerationRequest request)
    {
        if (request.AdapterId is null)
        {
            using var plain = fixture.NewEngine();
            return EngineRunner.RunAlone(plain, request);
        }
        string dir = Path.Combine(fixture.Root, "merged-" + request.AdapterId);
        if (!File.Exists(Path.Combine(dir, "model.safetensors")))
            ModelFiles.Merge(fixture.ModelDir, fixture.Adapters[request.AdapterId], dir);
        using var model = LlamaModel.Load(dir);
        using var engine = new InferenceEngine(model, null, new EngineOptions { KvCacheBytes = 8L << 20 });
        return EngineRunner.RunAlone(engine, request with { AdapterId = null });
    }
}
