using LoRAQueue.Formats;

namespace LoRAQueue.Engine.Tests;

/// <summary>Stopping (EOS, stop strings, max tokens), cancellation, timings, and the clear errors Submit gives for
/// requests that can never run.</summary>
public sealed class RequestLifecycleTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static GenerationRequest Greedy(string id, int prompt, int maxTokens, int seed, string? adapter = null) =>
        new(id, EngineRunner.Prompt(prompt, seed), adapter, MaxTokens: maxTokens) { IgnoreEos = true };

    [Fact]
    public void MaxTokensEndsWithLength()
    {
        using var engine = fixture.NewEngine();
        var result = EngineRunner.RunAlone(engine, Greedy("len", 5, 7, 1));
        Assert.Equal(FinishReason.Length, result.FinishReason);
        Assert.Equal(7, result.OutputTokens.Count);
        Assert.Equal(5, result.PromptTokenCount);
        Assert.Equal(fixture.Tokenizer.Decode(result.OutputTokens), result.Text);
    }

    [Fact]
    public void EosTokenFromTheConfigEndsGeneration()
    {
        using var engine = fixture.NewEngine();
        var full = EngineRunner.RunAlone(engine, Greedy("full", 6, 12, 2));
        int eos = full.OutputTokens[3];
        int firstEos = full.OutputTokens.ToList().IndexOf(eos);

        // Same weights, with that token declared as EOS in config.json.
        string dir = ModelFiles.Derive(fixture.ModelDir, Path.Combine(fixture.Root, "eos-model"),
            c => c with { EosTokenIds = [eos] }, (n, v, s) => [(n, v, s)]);
        using var model = LlamaModel.Load(dir);
        using var eosEngine = new InferenceEngine(model, fixture.Tokenizer, new EngineOptions { KvCacheBytes = 4L << 20 });
        var stopped = EngineRunner.RunAlone(eosEngine, Greedy("eos", 6, 12, 2) with { IgnoreEos = false });
        var ignoring = EngineRunner.RunAlone(eosEngine, Greedy("ignore", 6, 12, 2));

        Assert.Equal(FinishReason.Eos, stopped.FinishReason);
        Assert.Equal(full.OutputTokens.Take(firstEos + 1), stopped.OutputTokens);  // EOS is the last output token
        Assert.Equal(fixture.Tokenizer.Decode(full.OutputTokens.Take(firstEos)), stopped.Text); // and has no text
        Assert.Equal(full.OutputTokens, ignoring.OutputTokens);
    }

    [Fact]
    public void StopStringEndsGenerationAndIsRemovedFromText()
    {
        using var engine = fixture.NewEngine();
        var request = Greedy("full", 8, 40, 3, "r8");
        var full = EngineRunner.RunAlone(engine, request);
        string text = full.Text;
        int at = FindAsciiRun(text, text.Length / 3, 3);
        Assert.True(at >= 0, $"no 3-letter run in the generated text '{text}'");
        string stop = text.Substring(at, 3);
        int first = text.IndexOf(stop, StringComparison.Ordinal);

        var stopped = EngineRunner.RunAlone(engine, request with { StopStrings = ["never-appears", stop] });
        Assert.Equal(FinishReason.Stop, stopped.FinishReason);
        Assert.Equal(text[..first], stopped.Text);
        Assert.True(stopped.OutputTokens.Count < full.OutputTokens.Count);
        Assert.Equal(full.OutputTokens.Take(stopped.OutputTokens.Count), stopped.OutputTokens);
        Assert.Contains(stop, fixture.Tokenizer.Decode(stopped.OutputTokens));            // the last token completed it
        Assert.DoesNotContain(stop, fixture.Tokenizer.Decode(stopped.OutputTokens.Take(stopped.OutputTokens.Count - 1)));
    }

    private static int FindAsciiRun(string text, int from, int length)
    {
        for (int i = from; i + length <= text.Length; i++)
            if (text.AsSpan(i, length).IndexOfAnyExcept("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") < 0) return i;
        return -1;
    }

    [Fact]
    public void RequestsThatCanNeverRunFailClearlyAtSubmit()
    {
        long fourBlocks = 4 * PagedKvCache.BytesPerBlock(fixture.Model.Config, 4);
        using var engine = fixture.NewEngine(new EngineOptions { KvCacheBytes = fourBlocks, BlockSize = 4 });
        ArgumentException Fails(GenerationRequest r) => Assert.ThrowsAny<ArgumentException>(() => { _ = engine.Submit(r); });

        Assert.Contains("max_position_embeddings (512)", Fails(Greedy("long", 500, 64, 1)).Message);
        Assert.Contains("could never run", Fails(Greedy("kv", 10, 10, 1)).Message);      // 19 slots > 4 blocks × 4
        Assert.Contains("unknown adapter 'nope'", Fails(Greedy("a", 4, 4, 1, "nope")).Message);
        Assert.Contains("prompt is empty", Fails(new GenerationRequest("e", [])).Message);
        Assert.Contains("outside the vocabulary", Fails(new GenerationRequest("v", [1, 512])).Message);
        Assert.Contains("temperature", Fails(Greedy("t", 4, 4, 1) with { Sampling = new SamplingParams(Temperature: -1) }).Message);
        Assert.Contains("top_p", Fails(Greedy("p", 4, 4, 1) with { Sampling = new SamplingParams(TopP: 0) }).Message);
        Assert.Contains("MaxTokens", Fails(Greedy("m", 4, 0, 1)).Message);
        Assert.False(engine.HasWork);

        using var noTokenizer = new InferenceEngine(fixture.Model, null, new EngineOptions { KvCacheBytes = fourBlocks });
        Assert.Contains("tokenizer", Assert.ThrowsAny<ArgumentException>(() =>
        {
            _ = noTokenizer.Submit(Greedy("s", 4, 4, 1) with { StopStrings = ["x"] });
        }).Message);

        // 16 slots: exactly fits 9 prompt + 8 outputs (the last output needs no slot), so it is accepted and runs.
        Assert.Equal(8, EngineRunner.RunAlone(engine, Greedy("fits", 9, 8, 1)).OutputTokens.Count);
    }

    [Fact]
    public async Task CancelledRequestsEndWithCancelledAndFreeTheirBlocks()
    {
        using var engine = fixture.NewEngine();
        using var cancel = new CancellationTokenSource();
        var cancelled = engine.Submit(Greedy("c", 6, 50, 1), cancel.Token);
        var other = engine.Submit(Greedy("o", 6, 5, 2));
        engine.Step();
        engine.Step();
        cancel.Cancel();
        EngineRunner.RunUntilIdle(engine);

        var cancelledResult = await cancelled;
        Assert.Equal(FinishReason.Cancelled, cancelledResult.FinishReason);
        Assert.InRange(cancelledResult.OutputTokens.Count, 2, 3);
        Assert.Equal(FinishReason.Length, (await other).FinishReason);
        Assert.Equal(engine.KvBlockCount, engine.KvBlocksFree);
    }

    [Fact]
    public async Task DisposeEndsUnfinishedRequestsAsCancelled()
    {
        var engine = fixture.NewEngine();
        var pending = engine.Submit(Greedy("p", 6, 50, 1));
        engine.Step();
        engine.Dispose();
        var result = await pending;
        Assert.Equal(FinishReason.Cancelled, result.FinishReason);
        Assert.Single(result.OutputTokens);
        Assert.Throws<ObjectDisposedException>(() => { _ = engine.Submit(Greedy("q", 4, 4, 1)); });
    }

    [Fact]
    public void TimingsAreOrdered()
    {
        using var engine = fixture.NewEngine();
        var results = EngineRunner.RunAll(engine, Enumerable.Range(0, 5).Select(i => Greedy($"t{i}", 5 + i, 6, i)));
        foreach (var t in results.Select(r => r.Timings))
        {
            Assert.True(t.Wait >= TimeSpan.Zero);
            Assert.True(t.Wait <= t.TimeToFirstToken);
            Assert.True(t.TimeToFirstToken <= t.Total);
            Assert.True(t.TimePerOutputToken > TimeSpan.Zero);
            Assert.True(t.TimeToFirstToken + 5 * t.TimePerOutputToken <= t.Total + TimeSpan.FromMilliseconds(1));
        }
    }
}
