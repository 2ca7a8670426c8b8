namespace LoRAQueue.Engine.Tests;

/// <summary>Continuous batching: sequences join and leave every step, a tight KV budget makes requests wait and
/// preempts, and every request still produces exactly the tokens it produces alone (greedy and seeded sampling).</summary>
public sealed class ContinuousBatchingTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static GenerationRequest Request(string id, int prompt, int maxTokens, string? adapter, int seed, SamplingParams? sampling = null) =>
        new(id, EngineRunner.Prompt(prompt, seed), adapter, sampling, maxTokens) { IgnoreEos = true };

    private static readonly GenerationRequest[] Mixed =
    [
        Request("long-gen", 3, 30, "r8", 1),
        Request("long-prompt", 40, 2, null, 2),
        Request("mid", 10, 15, "r64", 3),
        Request("short", 25, 5, "r16", 4),
        Request("one", 5, 1, "pattern", 5),
        Request("sampled", 9, 12, "r8", 6, new SamplingParams(Temperature: 0.9f, TopP: 0.9f, TopK: 40, Seed: 77)),
    ];

    private Dictionary<string, IReadOnlyList<int>> AloneTokens(IEnumerable<GenerationRequest> requests)
    {
        using var engine = fixture.NewEngine();
        return requests.ToDictionary(r => r.Id, r => EngineRunner.RunAlone(engine, r).OutputTokens);
    }

    [Fact]
    public void SequencesJoinAndLeaveEveryStepWithTheSameTokensAsAlone()
    {
        var late = new[] { Request("late-a", 12, 6, "r64", 7), Request("late-b", 4, 9, null, 8) };
        var expected = AloneTokens(Mixed.Concat(late));

        using var engine = fixture.NewEngine(new EngineOptions { KvCacheBytes = 8L << 20, MaxBatchTokens = 32 });
        var steps = new List<StepStats>();
        var tasks = Mixed.Select(r => engine.Submit(r)).ToList();
        for (int i = 0; i < 4; i++) steps.Add(engine.Step());
        tasks.AddRange(late.Select(r => engine.Submit(r)));  // join while others decode
        EngineRunner.RunUntilIdle(engine, steps);

        foreach (var result in tasks.Select(t => t.Result))
            Assert.Equal(expected[result.Id], result.OutputTokens);
        Assert.Contains(steps, s => s.TokensPrefilled > 0 && s.TokensDecoded > 0);      // prefill and decode share steps
        Assert.Contains(steps, s => s.SequencesFinished > 0 && s.SequencesRunning > 0);  // some leave, others go on
        Assert.Contains(steps, s => s.TokensDecoded >= 3);                                // many sequences per step
        Assert.All(steps, s => Assert.True(s.TokensScheduled <= 32));
        Assert.All(steps, s => Assert.Equal(engine.KvBlockCount, s.KvBlocksUsed + s.KvBlocksFree));
        Assert.Equal(engine.KvBlockCount, engine.KvBlocksFree);
    }

    [Fact]
    public void TinyKvBudgetMakesRequestsWaitAndPreemptsYetAllComplete()
    {
        var requests = Enumerable.Range(0, 6)
            .Select(i => Request($"r{i}", 6 + 2 * i, 14 - i, i % 2 == 0 ? "r8" : "r64", 30 + i,
                i == 3 ? new SamplingParams(Temperature: 1f, Seed: 5) : null))
            .ToList();
        var expected = AloneTokens(requests);

        // 8 blocks of 4 tokens = 32 token slots for six sequences that need up to 20 each.
        long budget = 8 * PagedKvCache.BytesPerBlock(fixture.Model.Config, 4);
        using var engine = fixture.NewEngine(new EngineOptions { KvCacheBytes = budget, BlockSize = 4 });
        Assert.Equal(8, engine.KvBlockCount);
        var steps = new List<StepStats>();
        var results = EngineRunner.RunAll(engine, requests, steps);

        foreach (var result in results) Assert.Equal(expected[result.Id], result.OutputTokens);
        Assert.Contains(steps, s => s.SequencesWaiting > 0 && s.SequencesRunning > 0); // admission control held some back
        Assert.Contains(steps, s => s.SequencesPreempted > 0);
        Assert.Contains(results, r => r.Preemptions > 0);
        Assert.All(steps, s => Assert.True(s.KvBlocksUsed <= 8));
        Assert.Equal(engine.KvBlockCount, engine.KvBlocksFree);                           // all blocks returned
    }

    [Fact]
    public void SeededSamplingIsReproducibleAndIndependentOfTheBatch()
    {
        var sampling = new SamplingParams(Temperature: 1.2f, TopP: 0.95f, TopK: 100, Seed: 1234);
        var request = Request("seeded", 8, 20, "r16", 40, sampling);
        using var engine = fixture.NewEngine();
        var alone = EngineRunner.RunAlone(engine, request);
        var again = EngineRunner.RunAlone(engine, request);
        var inBatch = EngineRunner.RunAll(engine, Mixed.Append(request)).Single(r => r.Id == "seeded");
        var otherSeed = EngineRunner.RunAlone(engine, request with { Sampling = sampling with { Seed = 4321 } });
        var greedy = EngineRunner.RunAlone(engine, request with { Sampling = null });

        Assert.Equal(alone.OutputTokens, again.OutputTokens);
        Assert.Equal(alone.OutputTokens, inBatch.OutputTokens);
        Assert.NotEqual(alone.OutputTokens, otherSeed.OutputTokens);
        Assert.NotEqual(alone.OutputTokens, greedy.OutputTokens);
    }

    [Fact]
    public async Task SubmitFromManyThreadsWhileRunAsyncLoops()
    {
        var requests = Enumerable.Range(0, 16)
            .Select(i => Request($"t{i}", 3 + i % 7, 4 + i % 5, (i % 4) switch { 0 => null, 1 => "r8", 2 => "r16", _ => "r64" }, 50 + i))
            .ToArray();
        var expected = AloneTokens(requests);

        using var engine = fixture.NewEngine();
        using var stop = new CancellationTokenSource();
        var loop = engine.RunAsync(stop.Token);
        var tasks = new Task<GenerationResult>[requests.Length];
        Parallel.For(0, requests.Length, i => tasks[i] = engine.Submit(requests[i]));
        var results = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(2));

        foreach (var result in results) Assert.Equal(expected[result.Id], result.OutputTokens);
        stop.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop);
        Assert.False(engine.HasWork);
        Assert.Equal(engine.KvBlockCount, engine.KvBlocksFree);
    }
}
