using System.Diagnostics;
using LoRAQueue.Core.Costs;
using LoRAQueue.Formats;
using Xunit.Abstractions;

namespace LoRAQueue.Engine.Tests;

/// <summary>
/// The emulated backend (<see cref="InferenceEngine.CreateEmulated"/>): the engine's own scheduling and KV accounting, each
/// step priced by the cost model from the batch the scheduler formed and waited out, deterministic tokens, no weights.
/// Wall-time bounds are loose (a shared 2-core machine); the modelled times are checked exactly.
/// </summary>
public sealed class EmulatedBackendTests(TinyModelFixture fixture, ITestOutputHelper output) : IClassFixture<TinyModelFixture>
{
    private static readonly AcceleratorProfile A100 = AcceleratorProfiles.Builtin("a100");

    /// <summary>The a100 profile's shape with small linear coefficients: steps of a fraction of a millisecond.</summary>
    private static readonly AcceleratorProfile Fast = A100 with
    {
        Name = "fast-test",
        Form = StepCostForm.Linear,
        Coefficients = new StepCoefficients
        {
            OverheadMs = 0.2, WeightReadMs = 0, PrefillUsPerToken = 2, DecodeUsPerToken = 10, KvUsPerToken = 0.1, LoraUsPerTokenRank = 0.05,
        },
    };

    /// <summary>Records every shape it prices.</summary>
    private sealed class RecordingCost(IStepCostModel inner) : IStepCostModel
    {
        public List<StepShape> Shapes { get; } = [];
        public string Name => inner.Name;

        public TimeSpan StepTime(StepShape step, LoraKernelKind kernel)
        {
            Shapes.Add(step);
            return inner.StepTime(step, kernel);
        }
    }

    private InferenceEngine Emulated(IStepCostModel cost, EngineOptions? options = null, LoraKernelKind kernel = LoraKernelKind.Segmented,
                                     ModelConfig? config = null, ModelTokenizer? tokenizer = null)
    {
        var engine = InferenceEngine.CreateEmulated(config ?? fixture.Model.Config, tokenizer ?? fixture.Tokenizer,
            options ?? new EngineOptions { KvCacheBytes = 8L << 20 }, new EmulatedBackend(cost, kernel));
        foreach (var (id, adapter) in fixture.Adapters) engine.LoadAdapter(id, adapter);
        return engine;
    }

    private static GenerationRequest Request(string id, int prompt, int maxTokens, string? adapter, int seed, SamplingParams? sampling = null) =>
        new(id, EngineRunner.Prompt(prompt, seed), adapter, sampling, maxTokens);

    [Theory]
    [InlineData(LoraKernelKind.Segmented)]
    [InlineData(LoraKernelKind.Padded)]
    public void Each_step_is_priced_from_the_batch_the_scheduler_formed_and_lasts_that_long(LoraKernelKind kernel)
    {
        var a100 = new LinearStepCostModel(A100);
        var cost = new RecordingCost(a100);
        using var engine = Emulated(cost, kernel: kernel);
        var steps = new List<StepStats>();
        var results = EngineRunner.RunAll(engine,
            [Request("a", 10, 3, "r8", 1), Request("b", 6, 3, null, 2), Request("c", 7, 3, "r64", 3)], steps);

        // Step 1 prefills the three prompts; steps 2 and 3 decode one token each (contexts 11+7+8, then 12+8+9).
        StepShape[] expected =
        [
            new(23, 0, 23, [new(10, 8), new(6, 0), new(7, 64)]),
            new(0, 3, 26, [new(1, 8), new(1, 0), new(1, 64)]),
            new(0, 3, 29, [new(1, 8), new(1, 0), new(1, 64)]),
        ];
        Assert.Equal(expected.Length, steps.Count);
        Assert.Equal(expected.Length, cost.Shapes.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            var (want, got) = (expected[i], cost.Shapes[i]);
            Assert.Equal((want.PrefillTokens, want.DecodeTokens, want.KvTokensRead), (got.PrefillTokens, got.DecodeTokens, got.KvTokensRead));
            Assert.Equal(want.Segments, got.Segments);
            Assert.Equal(a100.StepTime(want, kernel), steps[i].ModelledStepTime);
        }
        // A padded batch pays the largest rank for every token (base tokens too).
        if (kernel == LoraKernelKind.Padded) Assert.Equal(23 * 64, cost.Shapes[0].LoraTokenRank(kernel));

        // The first step starts from idle: it lasts at least its price. Later ones may make up the previous one's lateness
        // (at most MaxCatchUp, 5 ms). Upper bound: loose, for a loaded machine.
        Assert.True(steps[0].StepTime >= steps[0].ModelledStepTime!.Value, $"{steps[0].StepTime} < {steps[0].ModelledStepTime}");
        foreach (var s in steps)
        {
            output.WriteLine($"modelled {s.ModelledStepTime!.Value.TotalMilliseconds:F3} ms, wall {s.StepTime.TotalMilliseconds:F3} ms");
            Assert.InRange(s.StepTime.TotalMilliseconds, s.ModelledStepTime!.Value.TotalMilliseconds - 5, s.ModelledStepTime.Value.TotalMilliseconds + 50);
        }
        Assert.All(results, r => Assert.Equal(3, r.OutputTokens.Count));
    }

    [Fact]
    public void A_busy_run_lasts_the_sum_of_its_modelled_steps()
    {
        // 16 sequences decoding 40 tokens on the a100 profile: ~17 ms a step, ~0.7 s in all.
        using var engine = Emulated(new LinearStepCostModel(A100));
        var steps = new List<StepStats>();
        var clock = Stopwatch.StartNew();
        EngineRunner.RunAll(engine, Enumerable.Range(0, 16).Select(i => Request($"s{i}", 12, 40, i % 2 == 0 ? "r8" : "r16", i)), steps);
        double wall = clock.Elapsed.TotalMilliseconds;
        double modelled = steps.Sum(s => s.ModelledStepTime!.Value.TotalMilliseconds);
        double stepWall = steps.Sum(s => s.StepTime.TotalMilliseconds);
        output.WriteLine($"{steps.Count} steps: modelled {modelled:F1} ms, steps' wall {stepWall:F1} ms, run's wall {wall:F1} ms " +
                         $"({(wall / modelled - 1) * 100:+0.00;-0.00} %), sleep: {DeadlineSleep.Method}");
        output.WriteLine("wall − modelled per step (ms): " + string.Join(" ", steps.Select(s => (s.StepTime - s.ModelledStepTime!.Value).TotalMilliseconds.ToString("F2"))));
        Assert.InRange(wall, modelled - 5, modelled * 1.10 + 20);
        Assert.Equal(modelled, engine.EmulationModelledTime.TotalMilliseconds, 3);
        output.WriteLine($"lost (behind the model beyond the catch-up): {engine.EmulationLostTime.TotalMilliseconds:F1} ms");
    }

    [Fact]
    public async Task A_stall_longer_than_the_catch_up_is_kept_and_counted_as_lost()
    {
        using var engine = Emulated(new LinearStepCostModel(A100)); // ~17 ms steps
        var task = engine.Submit(Request("stalled", 4, 5, null, 1));
        engine.Step();
        Thread.Sleep(40); // the engine thread stalls with work left
        var second = engine.Step();

        // The second step makes up 5 ms of the 40 (MaxCatchUp) and keeps the rest as lost.
        Assert.InRange(engine.EmulationLostTime.TotalMilliseconds, 40 - 5 - 1, 40 + 100);
        Assert.True(second.StepTime < second.ModelledStepTime!.Value, "the step made up 5 ms of lateness");
        EngineRunner.RunUntilIdle(engine);
        Assert.Equal(5, (await task).OutputTokens.Count);
    }

    [Fact]
    public void Tokens_are_a_function_of_seed_and_position_never_eos_and_jobs_run_to_max_tokens()
    {
        var cost = new LinearStepCostModel(Fast);
        var seeded = Request("seeded", 8, 24, "r16", 40, new SamplingParams(Temperature: 0.7f, Seed: 1234));
        var unseeded = Request("job-7", 5, 24, null, 41);

        using var alone = Emulated(cost);
        var first = EngineRunner.RunAlone(alone, seeded);
        var firstUnseeded = EngineRunner.RunAlone(alone, unseeded);

        // Another engine, in a batch with others: the same tokens and text.
        using var batched = Emulated(cost, new EngineOptions { KvCacheBytes = 8L << 20, MaxBatchTokens = 16 });
        var results = EngineRunner.RunAll(batched,
            [Request("x", 20, 10, "r8", 42), seeded, Request("y", 3, 30, "r64", 43), unseeded]).ToDictionary(r => r.Id);
        Assert.Equal(first.OutputTokens, results["seeded"].OutputTokens);
        Assert.Equal(first.Text, results["seeded"].Text);
        Assert.Equal(firstUnseeded.OutputTokens, results["job-7"].OutputTokens);

        // Another seed (or id), other tokens; every token in the vocabulary and none of them EOS: each job ends at max tokens.
        var reseeded = EngineRunner.RunAlone(alone, seeded with { Sampling = new SamplingParams(Seed: 99) });
        Assert.NotEqual(first.OutputTokens, reseeded.OutputTokens);
        Assert.NotEqual(firstUnseeded.OutputTokens, EngineRunner.RunAlone(alone, unseeded with { Id = "job-8" }).OutputTokens);
        int vocab = fixture.Model.Config.VocabSize;
        int[] eos = fixture.Model.Config.EosTokenIds.Length > 0 ? fixture.Model.Config.EosTokenIds : [fixture.Tokenizer.EosId!.Value];
        foreach (var r in results.Values.Append(first).Append(reseeded))
        {
            Assert.Equal(FinishReason.Length, r.FinishReason);
            Assert.All(r.OutputTokens, t => Assert.InRange(t, 0, vocab - 1));
            Assert.DoesNotContain(r.OutputTokens, eos.Contains);
            Assert.True(r.OutputTokens.Distinct().Count() > r.OutputTokens.Count / 2, "tokens spread over the vocabulary");
        }
        Assert.Equal(24, first.OutputTokens.Count);
        Assert.False(string.IsNullOrEmpty(first.Text));
    }

    [Fact]
    public void A_tiny_kv_budget_makes_requests_wait_and_preempts_yet_all_complete_with_their_own_tokens()
    {
        var requests = Enumerable.Range(0, 6)
            .Select(i => Request($"r{i}", 6 + 2 * i, 14 - i, i % 2 == 0 ? "r8" : "r64", 30 + i))
            .ToList();
        var cost = new LinearStepCostModel(Fast);
        Dictionary<string, IReadOnlyList<int>> expected;
        using (var roomy = Emulated(cost))
            expected = requests.ToDictionary(r => r.Id, r => EngineRunner.RunAlone(roomy, r).OutputTokens);

        // 8 blocks of 4 tokens = 32 token slots for six sequences that need up to 20 each: the CPU backend's block count
        // for the same budget, with no cache allocated.
        long budget = 8 * PagedKvCache.BytesPerBlock(fixture.Model.Config, 4);
        using var engine = Emulated(cost, new EngineOptions { KvCacheBytes = budget, BlockSize = 4 });
        Assert.Equal(8, engine.KvBlockCount);
        var steps = new List<StepStats>();
        var results = EngineRunner.RunAll(engine, requests, steps);

        foreach (var result in results) Assert.Equal(expected[result.Id], result.OutputTokens);
        Assert.Contains(steps, s => s.SequencesWaiting > 0 && s.SequencesRunning > 0);
        Assert.Contains(steps, s => s.SequencesPreempted > 0);
        Assert.Contains(results, r => r.Preemptions > 0);
        Assert.All(steps, s => Assert.True(s.KvBlocksUsed <= 8));
        Assert.Equal(engine.KvBlockCount, engine.KvBlocksFree);
        // A recompute after preemption is priced as prefill, as the twin prices it.
        Assert.Contains(steps, s => s.TokensPrefilled > 0 && s.ModelledStepTime > TimeSpan.Zero);
    }

    [Fact]
    public void It_needs_the_config_and_tokenizer_but_no_weights_and_allocates_no_kv_cache()
    {
        string dir = Path.Combine(fixture.Root, "config-only");
        Directory.CreateDirectory(dir);
        foreach (var file in Directory.EnumerateFiles(fixture.ModelDir).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal)
                                                                                    && !f.EndsWith(".safetensors.index.json", StringComparison.Ordinal)))
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)), overwrite: true);
        Assert.ThrowsAny<Exception>(() => LlamaModel.Load(dir)); // the CPU backend needs the weights

        long before = Environment.WorkingSet;
        // 4 GiB of "KV cache" for the tiny model: 512 Ki blocks counted, none allocated.
        using var engine = Emulated(new LinearStepCostModel(Fast), new EngineOptions { KvCacheBytes = 4L << 30 },
                                    config: ModelConfig.Load(dir), tokenizer: ModelTokenizer.Load(dir));
        Assert.Equal((int)((4L << 30) / engine.KvBytesPerBlock), engine.KvBlockCount);
        Assert.True(engine.IsEmulated);
        Assert.Null(engine.Model);
        var result = EngineRunner.RunAlone(engine, Request("q", 9, 5, "r8", 7));
        Assert.Equal(5, result.OutputTokens.Count);
        Assert.InRange(Environment.WorkingSet - before, long.MinValue, 64L << 20);
    }

    [Fact]
    public void The_deadline_sleep_is_never_early()
    {
        var late = new List<double>();
        for (int i = 0; i < 40; i++)
        {
            long deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * (1 + i % 4) / 1000; // 1-4 ms
            DeadlineSleep.Until(deadline);
            late.Add(Stopwatch.GetElapsedTime(deadline).TotalMilliseconds);
        }
        late.Sort();
        output.WriteLine($"{DeadlineSleep.Method}: late by p50 {late[20]:F3} ms, p90 {late[36]:F3} ms, max {late[^1]:F3} ms");
        Assert.All(late, l => Assert.True(l >= 0));
        Assert.True(late[20] < 2, $"median lateness {late[20]} ms"); // loose: a loaded 2-core machine
    }
}
