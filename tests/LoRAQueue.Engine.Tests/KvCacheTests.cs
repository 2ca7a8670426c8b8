using LoRAQueue.Formats;

namespace LoRAQueue.Engine.Tests;

/// <summary>The paged KV cache: cached decode and chunked prefill equal recomputation from scratch
/// (max |Δlogit| ≤ 1e-4: the same F32 math, only the token grouping of the GEMMs differs), and block accounting.</summary>
public sealed class KvCacheTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private const float Tolerance = 1e-4f;

    [Theory]
    [InlineData(null, 13)]
    [InlineData("r64", 13)]
    // Long enough for the parallel paths: 200 positions × 4 heads splits a lone decode token's KV heads between
    // the pool's threads, and a 200-token prefill's SwiGLU (200 × 176 elements) is split too.
    [InlineData(null, 200)]
    public void CachedDecodeEqualsFullRecomputation(string? adapter, int promptLength)
    {
        using var engine = fixture.NewEngine(new EngineOptions { KvCacheBytes = 4L << 20, BlockSize = 4 });
        var prompt = EngineRunner.Prompt(promptLength, seed: 21);
        var generated = EngineRunner.RunAlone(engine,
            new GenerationRequest("gen", prompt, adapter, MaxTokens: 12, CaptureLogits: true) { IgnoreEos = true });

        for (int step = 0; step < generated.OutputTokens.Count; step++)
        {
            // Fresh prefill of prompt + the tokens generated before this step: its logits are this step's.
            var context = prompt.Concat(generated.OutputTokens.Take(step)).ToArray();
            var fresh = EngineRunner.RunAlone(engine,
                new GenerationRequest($"fresh{step}", context, adapter, MaxTokens: 1, CaptureLogits: true) { IgnoreEos = true });
            Assert.Equal(generated.OutputTokens[step], fresh.OutputTokens[0]);
            Assert.InRange(EngineRunner.MaxAbsDifference(generated.Logits![step], fresh.Logits![0]), 0, Tolerance);
        }
        Assert.Equal(engine.KvBlockCount, engine.KvBlocksFree);
    }

    [Fact]
    public void ChunkedPrefillEqualsOneShotPrefill()
    {
        var request = new GenerationRequest("long", EngineRunner.Prompt(45, seed: 22), "r8", MaxTokens: 4, CaptureLogits: true) { IgnoreEos = true };
        using var oneShot = fixture.NewEngine(new EngineOptions { KvCacheBytes = 4L << 20, MaxBatchTokens = 64 });
        using var chunked = fixture.NewEngine(new EngineOptions { KvCacheBytes = 4L << 20, MaxBatchTokens = 8 });
        var steps = new List<StepStats>();
        var a = EngineRunner.RunAlone(oneShot, request);
        var b = EngineRunner.RunAll(chunked, [request], steps)[0];

        Assert.True(steps.Count(s => s.TokensPrefilled > 0) >= 45 / 8, "the prompt was split into chunks");
        Assert.All(steps, s => Assert.True(s.TokensScheduled <= 8));
        Assert.Equal(a.OutputTokens, b.OutputTokens);
        for (int i = 0; i < a.Logits!.Count; i++)
            Assert.InRange(EngineRunner.MaxAbsDifference(a.Logits[i], b.Logits![i]), 0, Tolerance);
    }

    [Fact]
    public void BlocksAreAllocatedOnDemandAndReturned()
    {
        var config = fixture.Model.Config;
        long perBlock = PagedKvCache.BytesPerBlock(config, 4);
        using var cache = new PagedKvCache(config, blockSize: 4, budgetBytes: 5 * perBlock + perBlock / 2);
        Assert.Equal(5, cache.NumBlocks);

        var a = new BlockTable(1);
        var b = new BlockTable(1);
        Assert.True(cache.TryGrow(a, 5));          // 2 blocks for 5 tokens, not the maximum length
        Assert.Equal(2, a.Count);
        Assert.True(cache.TryGrow(a, 8));          // still 2
        Assert.Equal(2, a.Count);
        Assert.True(cache.TryGrow(b, 12));         // 3 more: pool exhausted
        Assert.Equal(0, cache.FreeBlocks);
        Assert.False(cache.TryGrow(a, 9));         // would need a third block: refused without side effects
        Assert.Equal(2, a.Count);
        Assert.Equal(5, a.Blocks.Take(2).Concat(b.Blocks.Take(3)).Distinct().Count());

        cache.Release(b);
        Assert.Equal(3, cache.FreeBlocks);
        Assert.Equal(0, b.Count);
        cache.Release(a);
        Assert.Equal(5, cache.FreeBlocks);
    }

    [Fact]
    public void CacheSmallerThanOneBlockIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new InferenceEngine(fixture.Model, null, new EngineOptions { KvCacheBytes = 100 }));
        Assert.Contains("less than one KV block", e.Message);
    }
}
