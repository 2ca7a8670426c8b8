using LoRAQueue.Core.Costs;
using LoRAQueue.Engine;
using LoRAQueue.Formats;
using LoRAQueue.Kernels;

namespace LoRAQueue.Bench;

/// <summary>
/// The engine bench's per-step sweep: real engine steps of known shape, each timed over several steps, as the input of
/// `loraqueue twin profile fit` (what the digital twin's step-cost model is fitted to).
/// <list type="bullet">
/// <item>Decode levels: each configuration's largest batch of sequences is prefilled in one step, then decodes; the
/// sequences have staggered token limits, so every <c>warm-up + timed</c> steps the batch drops to the next smaller size
/// (32, 16, 8, …): one prefill serves every batch size. Configurations: the base model at each sweep context (prompt
/// length); adapters of each sweep rank (round-robin over <see cref="EngineBenchOptions.SweepAdapters"/> adapters); a
/// batch alternating the smallest and largest rank under the segmented and under the padded kernel.</item>
/// <item>Prefill: one prompt of each chunk size in one step, base model and with the largest rank.</item>
/// </list>
/// Interleaved: every configuration has its own engine, and the sweep steps them round-robin (one step of each in turn,
/// level by level; the prefill points one request of each in turn), so a burst of load from other processes on a shared
/// machine slows every configuration alike instead of one of them (the kernels bench times its kernels the same way).
/// Each point is the median of its timed steps and their minimum (<see cref="StepStats.StepTime"/>: the engine's whole
/// step, scheduling, forward pass and sampling); KV tokens read = Σ over the step's sequences of the positions attention
/// reads (the context after the step), averaged over the timed steps. Adapters are synthetic (random A and B on q, k, v, o).
/// </summary>
public static class StepSweep
{
    public static IReadOnlyList<string> LoraTargets { get; } = SyntheticAdapter.DefaultTargets;

    public static List<StepMeasurement> Run(LlamaModel model, string modelDirectory, EngineBenchOptions o, IProgress<string>? progress = null)
    {
        int[] batches = [.. o.SweepBatches.Where(b => b > 0).Distinct().OrderDescending()];
        int[] chunks = [.. o.SweepPrefillChunks.Where(c => c > 0).Distinct()];
        if (batches.Length == 0 && chunks.Length == 0) return [];
        if (o.SweepTimedSteps < 1) throw new ArgumentOutOfRangeException(nameof(o), "SweepTimedSteps must be at least 1");
        int maxPositions = model.Config.MaxPositionEmbeddings;
        int decodeSteps = batches.Length * (o.SweepWarmupSteps + o.SweepTimedSteps);
        int Prompt(int context) => Math.Max(1, Math.Min(context, maxPositions - decodeSteps - 2));
        int[] ranks = [.. o.SweepRanks.Where(r => r > 0).Distinct().Order()];

        var temp = Directory.CreateTempSubdirectory("loraqueue-step-sweep-");
        try
        {
            var adapters = ranks.ToDictionary(r => r, r => Enumerable.Range(0, Math.Max(1, o.SweepAdapters))
                .Select(i => CreateAdapter(model, modelDirectory, temp.FullName, r, i)).ToArray());
            var decode = new List<DecodeConfig>();
            if (batches.Length > 0)
            {
                foreach (int context in o.SweepContexts.Select(Prompt).Distinct())
                    decode.Add(new DecodeConfig($"decode ctx {context}", context, _ => null, LoraKernelKind.Segmented));
                int loraPrompt = Prompt(o.SweepContexts.Count > 0 ? o.SweepContexts[0] : 16);
                foreach (int rank in ranks)
                {
                    var set = adapters[rank];
                    decode.Add(new DecodeConfig($"decode ctx {loraPrompt} rank {rank}", loraPrompt, i => set[i % set.Length], LoraKernelKind.Segmented));
                }
                if (ranks.Length >= 2)
                {
                    var low = adapters[ranks[0]];
                    var high = adapters[ranks[^1]];
                    SweepAdapter Mixed(int i) => i % 2 == 0 ? low[i / 2 % low.Length] : high[i / 2 % high.Length];
                    foreach (var kernel in new[] { LoraKernelKind.Segmented, LoraKernelKind.Padded })
                        decode.Add(new DecodeConfig($"decode ctx {loraPrompt} ranks {ranks[0]}+{ranks[^1]} {Name(kernel)}", loraPrompt, Mixed, kernel));
                }
            }
            var prefill = chunks.SelectMany(chunk => ranks.Length == 0
                ? new[] { (chunk, (SweepAdapter?)null) }
                : [(chunk, null), (chunk, adapters[ranks[^1]][0])]).ToList();

            var points = new List<StepMeasurement>();
            if (decode.Count > 0) points.AddRange(Report(progress, DecodeLevels(model, batches, decode, o)));
            if (prefill.Count > 0) points.AddRange(Report(progress, Prefill(model, prefill, o)));
            return points;
        }
        finally
        {
            try { temp.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The shape figures the fit needs besides the steps.</summary>
    public static BenchModelShape ModelShape(LlamaModel model, string name, string modelDirectory)
    {
        var c = model.Config;
        long parameters = 0;
        using (var weights = ModelWeights.Open(modelDirectory))
            foreach (var tensor in weights.Names)
                parameters += weights.Info(tensor).Shape.Aggregate(1L, (a, b) => a * b);
        long perRankElements = 0;
        foreach (var module in LoraTargets)
        {
            var (outDim, inDim) = c.ModuleShape(module);
            perRankElements += inDim + outDim;
        }
        return new BenchModelShape
        {
            Name = name,
            HiddenSize = c.HiddenSize,
            Layers = c.NumHiddenLayers,
            Parameters = parameters,
            WeightBytes = model.WeightBytes,
            KvBytesPerToken = PagedKvCache.BytesPerBlock(c, 1),
            LoraBytesPerRank = c.NumHiddenLayers * perRankElements * sizeof(float),
            LoraFlopsPerTokenRank = c.NumHiddenLayers * 2 * perRankElements,
            LoraTargets = LoraTargets,
        };
    }

    sealed record SweepAdapter(string Id, LoraAdapter Adapter, int Rank);

    static IEnumerable<StepMeasurement> Report(IProgress<string>? progress, IEnumerable<StepMeasurement> points)
    {
        foreach (var p in points)
        {
            progress?.Report($"step {p.Label}: {p.StepMs:F2} ms (prefill {p.PrefillTokens}, decode {p.DecodeTokens}, kv {p.KvTokensRead})");
            yield return p;
        }
    }

    static string Name(LoraKernelKind kernel) => kernel == LoraKernelKind.Padded ? "padded" : "segmented";

    static SweepAdapter CreateAdapter(LlamaModel model, string modelDirectory, string root, int rank, int index)
    {
        string dir = Path.Combine(root, $"rank-{rank}-{index}");
        SyntheticAdapter.Create(modelDirectory, rank, LoraTargets, dir, seed: (ulong)(rank * 1000 + index));
        return new SweepAdapter($"r{rank}-{index}", LoraAdapter.Load(dir, model.Config), rank);
    }

    sealed record DecodeConfig(string Label, int Prompt, Func<int, SweepAdapter?> AdapterOf, LoraKernelKind Kernel);

    /// <summary>Every configuration's levels, stepped round-robin; points in configuration order, largest batch first.</summary>
    static List<StepMeasurement> DecodeLevels(LlamaModel model, int[] batches, List<DecodeConfig> configs, EngineBenchOptions o)
    {
        int largest = batches[0];
        int perLevel = o.SweepWarmupSteps + o.SweepTimedSteps;
        int decodeSteps = batches.Length * perLevel;
        var engines = new List<InferenceEngine>();
        try
        {
            var adapterOf = new List<SweepAdapter?[]>();
            foreach (var config in configs)
            {
                var engine = EngineBenchmark.NewEngine(model, largest, config.Prompt + decodeSteps + 2, Math.Max(largest * config.Prompt, 64), config.Kernel);
                engines.Add(engine);
                var ofSequence = Enumerable.Range(0, largest).Select(config.AdapterOf).ToArray();
                adapterOf.Add(ofSequence);
                foreach (var a in ofSequence.OfType<SweepAdapter>().DistinctBy(a => a.Id)) engine.LoadAdapter(a.Id, a.Adapter);
                for (int i = 0; i < largest; i++)
                {
                    int levels = batches.Count(b => b > i); // sequence i decodes through the first `levels` levels
                    _ = engine.Submit(new GenerationRequest($"sweep-{i}", RandomPrompt(model, config.Prompt, seed: 7000 + i), ofSequence[i]?.Id,
                                                            MaxTokens: 1 + levels * perLevel) { IgnoreEos = true });
                }
                var first = engine.Step();
                if (first.TokensPrefilled != largest * config.Prompt || first.TokensDecoded != 0)
                    throw new InvalidOperationException($"step sweep '{config.Label}': the prefill step ran {first.TokensPrefilled} prompt tokens, expected {largest * config.Prompt} in one step");
            }

            var points = new List<StepMeasurement>[configs.Count];
            for (int c = 0; c < configs.Count; c++) points[c] = [];
            int step = 0;
            foreach (int batch in batches)
            {
                var times = configs.Select(_ => new List<double>()).ToArray();
                var kvSum = new long[configs.Count];
                for (int s = 0; s < perLevel; s++, step++)
                    for (int c = 0; c < configs.Count; c++)
                    {
                        var stats = engines[c].Step();
                        if (stats.TokensDecoded != batch || stats.TokensPrefilled != 0)
                            throw new InvalidOperationException($"step sweep '{configs[c].Label}': decode step {step} ran {stats.TokensDecoded} decode and {stats.TokensPrefilled} prompt tokens, expected {batch} and 0");
                        if (s < o.SweepWarmupSteps) continue;
                        times[c].Add(stats.StepTime.TotalMilliseconds);
                        // Each sequence attends over its prompt, the outputs so far and the new token.
                        kvSum[c] += (long)batch * (configs[c].Prompt + step + 1);
                    }
                for (int c = 0; c < configs.Count; c++)
                {
                    var ofSequence = adapterOf[c];
                    var segments = Enumerable.Range(0, batch)
                        .GroupBy(i => ofSequence[i]?.Id ?? "")
                        .OrderBy(g => g.Key, StringComparer.Ordinal)
                        .Select(g => new MeasuredSegment(g.Count(), ofSequence[g.First()]?.Rank ?? 0))
                        .ToList();
                    points[c].Add(new StepMeasurement
                    {
                        Label = $"{configs[c].Label} batch {batch}",
                        PrefillTokens = 0,
                        DecodeTokens = batch,
                        KvTokensRead = (long)Math.Round((double)kvSum[c] / times[c].Count),
                        Kernel = Name(configs[c].Kernel),
                        Segments = segments,
                        StepMs = Math.Round(Median(times[c]), 4),
                        StepMsMin = Math.Round(times[c].Min(), 4),
                        TimedSteps = times[c].Count,
                    });
                }
            }
            for (int c = 0; c < configs.Count; c++)
                if (engines[c].HasWork) throw new InvalidOperationException($"step sweep '{configs[c].Label}': sequences left after the last level");
            return [.. points.SelectMany(p => p)];
        }
        finally
        {
            foreach (var engine in engines) engine.Dispose();
        }
    }

    /// <summary>One prompt of each (chunk, adapter) in one step, round-robin over them: one warm-up round, then the timed ones.</summary>
    static List<StepMeasurement> Prefill(LlamaModel model, List<(int Chunk, SweepAdapter? Adapter)> cases, EngineBenchOptions o)
    {
        var engines = new List<InferenceEngine>();
        try
        {
            var tokens = cases.Select(c => Math.Max(1, Math.Min(c.Chunk, model.Config.MaxPositionEmbeddings - 1))).ToArray();
            var labels = cases.Select((c, i) => c.Adapter is null ? $"prefill {tokens[i]}" : $"prefill {tokens[i]} rank {c.Adapter.Rank}").ToArray();
            for (int i = 0; i < cases.Count; i++)
            {
                var engine = EngineBenchmark.NewEngine(model, 1, tokens[i] + 1, tokens[i], LoraKernelKind.Segmented);
                engines.Add(engine);
                if (cases[i].Adapter is { } a) engine.LoadAdapter(a.Id, a.Adapter);
            }
            var times = cases.Select(_ => new List<double>()).ToArray();
            // Prefill steps are long: one warm-up round is enough after the decode levels have run the same code.
            int warmup = Math.Min(o.SweepWarmupSteps, 1);
            for (int run = 0; run < warmup + o.SweepTimedSteps; run++)
                for (int i = 0; i < cases.Count; i++)
                {
                    var task = engines[i].Submit(new GenerationRequest($"{labels[i]}-{run}", RandomPrompt(model, tokens[i], seed: 9000 + run),
                                                                       cases[i].Adapter?.Id, MaxTokens: 1) { IgnoreEos = true });
                    var stats = engines[i].Step();
                    if (stats.TokensPrefilled != tokens[i] || !task.IsCompleted)
                        throw new InvalidOperationException($"step sweep '{labels[i]}': the step prefilled {stats.TokensPrefilled} tokens, expected {tokens[i]} and the request done");
                    if (run >= warmup) times[i].Add(stats.StepTime.TotalMilliseconds);
                }
            return [.. cases.Select((c, i) => new StepMeasurement
            {
                Label = labels[i],
                PrefillTokens = tokens[i],
                DecodeTokens = 0,
                KvTokensRead = tokens[i],
                Kernel = "segmented",
                Segments = [new MeasuredSegment(tokens[i], c.Adapter?.Rank ?? 0)],
                StepMs = Math.Round(Median(times[i]), 4),
                StepMsMin = Math.Round(times[i].Min(), 4),
                TimedSteps = times[i].Count,
            })];
        }
        finally
        {
            foreach (var engine in engines) engine.Dispose();
        }
    }

    static double Median(List<double> values)
    {
        values.Sort();
        int n = values.Count;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }

    static int[] RandomPrompt(LlamaModel model, int length, int seed)
    {
        var random = new Random(seed);
        var tokens = new int[length];
        for (int i = 0; i < length; i++) tokens[i] = random.Next(model.Config.VocabSize);
        return tokens;
    }
}
