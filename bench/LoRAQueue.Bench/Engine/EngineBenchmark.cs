using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using LoRAQueue.Core.Costs;
using LoRAQueue.Engine;
using LoRAQueue.Formats;
using LoRAQueue.Kernels;

namespace LoRAQueue.Bench;

public sealed class EngineBenchOptions
{
    /// <summary>Name reported as "preset"; default: the weights' "preset" metadata, else the directory's name.</summary>
    public string? Preset { get; init; }
    public IReadOnlyList<int> Batches { get; init; } = [1, 8, 32];
    /// <summary>Prompt length of each decode sequence.</summary>
    public int PromptTokens { get; init; } = 16;
    /// <summary>Warm-up decode steps: at least WarmupSteps and at least WarmupSeconds (so tiered JIT has settled),
    /// at most MaxWarmupSteps.</summary>
    public int WarmupSteps { get; init; } = 3;
    public double WarmupSeconds { get; init; } = 1.0;
    public int MaxWarmupSteps { get; init; } = 64;
    public int TimedSteps { get; init; } = 16;
    /// <summary>Length of the prompt timed for prefill (one step).</summary>
    public int PrefillTokens { get; init; } = 256;
    public long BandwidthBytes { get; init; } = 512L << 20;
    public int BandwidthRepeats { get; init; } = 5;
    public int GemmRepeats { get; init; } = 5;

    // The per-step sweep (StepSweep): measured step shapes for `loraqueue twin profile fit`. No batches and no prefill
    // chunks: no sweep.
    /// <summary>Decode batch sizes; one prefill of the largest serves them all (the batch shrinks level by level).</summary>
    public IReadOnlyList<int> SweepBatches { get; init; } = [1, 2, 4, 8, 16, 32];
    /// <summary>Prompt lengths of the base-model decode levels (the KV tokens read grow with them); the first is also
    /// the LoRA levels' prompt.</summary>
    public IReadOnlyList<int> SweepContexts { get; init; } = [16, 128];
    /// <summary>Adapter ranks of the LoRA decode levels; the smallest and largest also make a mixed batch run under both kernels.</summary>
    public IReadOnlyList<int> SweepRanks { get; init; } = [8, 32, 128];
    /// <summary>Distinct adapters per rank (sequences take them round-robin).</summary>
    public int SweepAdapters { get; init; } = 4;
    /// <summary>Prompt lengths prefilled in one step (base model, and with the largest rank).</summary>
    public IReadOnlyList<int> SweepPrefillChunks { get; init; } = [32, 128, 512];
    public int SweepWarmupSteps { get; init; } = 2;
    public int SweepTimedSteps { get; init; } = 8;
}

public sealed record DecodeBenchPoint(
    [property: JsonPropertyName("batch")] int Batch,
    [property: JsonPropertyName("tokens_per_s")] double TokensPerS,
    [property: JsonPropertyName("bound_tokens_per_s")] double BoundTokensPerS,
    [property: JsonPropertyName("bandwidth_gbs")] double BandwidthGbs)
{
    /// <summary>Measured ÷ bound.</summary>
    [JsonIgnore] public double FractionOfBound => BoundTokensPerS > 0 ? TokensPerS / BoundTokensPerS : 0;
}

public sealed record EngineBenchReport(
    [property: JsonPropertyName("preset")] string Preset,
    [property: JsonPropertyName("weights_bytes")] long WeightsBytes,
    [property: JsonPropertyName("bandwidth_gbs")] double BandwidthGbs,
    [property: JsonPropertyName("decode")] IReadOnlyList<DecodeBenchPoint> Decode,
    [property: JsonPropertyName("prefill_tokens_per_s")] double PrefillTokensPerS,
    [property: JsonPropertyName("gemm_gflops")] double GemmGflops)
{
    /// <summary>The shape the steps ran (for `twin profile fit`).</summary>
    [JsonPropertyName("model")] public BenchModelShape? Model { get; init; }

    /// <summary>Measured step shapes and times (<see cref="StepSweep"/>); empty when the sweep was off.</summary>
    [JsonPropertyName("steps")] public IReadOnlyList<StepMeasurement> Steps { get; init; } = [];

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });
}

/// <summary>End-to-end engine speed against the memory-bandwidth bound measured in the same run.
/// Decode: batch sequences with a short prompt, prefilled, then warm-up steps, then timed decode steps (EOS ignored);
/// tokens/s = batch ÷ the median timed step.
/// Bound: bandwidth ÷ bytes one decode step must read = every layer's weights + lm_head whole + final norm +
/// one embedding row per sequence + the K/V cache of every sequence's context (averaged over the timed steps).
/// The bound's bandwidth is the median of probe passes interleaved with the timed steps (one after each), so both
/// medians see the same machine: on the shared host the DRAM bandwidth swings 25–55 GB/s within seconds, and with
/// one probe up front the same code scored 57–110% of its bound. The report's bandwidth_gbs is the up-front best of N.
/// Last, after those have warmed the JIT, the per-step sweep (<see cref="StepSweep"/>): the report's model and steps.</summary>
public static class EngineBenchmark
{
    public static EngineBenchReport Run(string modelDirectory, EngineBenchOptions options, IProgress<string>? progress = null)
    {
        using var model = LlamaModel.Load(modelDirectory);
        string preset = options.Preset ?? PresetName(modelDirectory);

        progress?.Report("measuring memory bandwidth");
        double bandwidth;
        var decode = new List<DecodeBenchPoint>();
        using (var probe = new ReadBandwidthProbe(options.BandwidthBytes))
        {
            bandwidth = probe.MeasureGBs(options.BandwidthRepeats);
            foreach (int batch in options.Batches)
            {
                var (tokensPerS, averageContext, stepBandwidth) = MeasureDecode(model, batch, options, probe);
                double bytesPerStep = DecodeStepBytes(model, batch, averageContext);
                var point = new DecodeBenchPoint(batch, tokensPerS, batch * stepBandwidth * 1e9 / bytesPerStep, stepBandwidth);
                progress?.Report($"decode batch {batch}: {tokensPerS:F1} tokens/s, bound {point.BoundTokensPerS:F1} " +
                                 $"({point.FractionOfBound:P0}; {stepBandwidth:F1} GB/s during the steps)");
                decode.Add(point);
            }
        }

        int prefillTokens = Math.Min(options.PrefillTokens, model.Config.MaxPositionEmbeddings - 1);
        double prefill = MeasurePrefill(model, prefillTokens);
        progress?.Report($"prefill {prefillTokens} tokens: {prefill:F1} tokens/s");
        double gflops = MeasureGemm(model, prefillTokens, options.GemmRepeats);
        progress?.Report($"gemm: {gflops:F1} GFLOP/s");

        var steps = StepSweep.Run(model, modelDirectory, options, progress);
        return new EngineBenchReport(preset, model.WeightBytes, bandwidth, decode, prefill, gflops)
        {
            Model = StepSweep.ModelShape(model, preset, modelDirectory),
            Steps = steps,
        };
    }

    /// <summary>The synthetic generator's "preset" metadata, else the directory's name.</summary>
    private static string PresetName(string modelDirectory)
    {
        string single = Path.Combine(modelDirectory, ModelWeights.SingleFileName);
        if (File.Exists(single))
        {
            using var file = SafeTensorsFile.Open(single);
            if (file.Metadata.TryGetValue("preset", out var preset)) return preset;
        }
        return Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDirectory)));
    }

    /// <summary>Bytes read by one decode step of <paramref name="batch"/> sequences with the given context length.</summary>
    public static double DecodeStepBytes(LlamaModel model, int batch, double averageContext)
    {
        var c = model.Config;
        double weights = model.LayerWeightBytes + model.LmHead.ByteLength + (double)c.HiddenSize * sizeof(float)
                         + batch * (double)model.Embedding.ByteLength / c.VocabSize;
        double kvPerToken = (double)c.NumHiddenLayers * 2 * c.NumKeyValueHeads * c.HeadDim * sizeof(float);
        return weights + batch * averageContext * kvPerToken;
    }

    private static (double TokensPerS, double AverageContext, double BandwidthGbs) MeasureDecode(
        LlamaModel model, int batch, EngineBenchOptions o, ReadBandwidthProbe probe)
    {
        int prompt = Math.Max(1, Math.Min(o.PromptTokens, model.Config.MaxPositionEmbeddings / 2));
        int maxWarmup = Math.Max(o.WarmupSteps, o.MaxWarmupSteps);
        int maxTokens = Math.Min(maxWarmup + o.TimedSteps + 2, model.Config.MaxPositionEmbeddings - prompt);
        using var engine = NewEngine(model, batch, prompt + maxTokens, Math.Max(batch * prompt, 64));
        for (int i = 0; i < batch; i++)
            _ = engine.Submit(new GenerationRequest($"decode-{i}", Prompt(model, prompt, seed: i), MaxTokens: maxTokens) { IgnoreEos = true });

        engine.Step(); // prefill of every prompt (one step: the budget holds them all) → first token each
        int warmup = 0;
        long warmupStart = Stopwatch.GetTimestamp();
        while (warmup < o.WarmupSteps
               || (Stopwatch.GetElapsedTime(warmupStart).TotalSeconds < o.WarmupSeconds && warmup < maxWarmup))
        {
            engine.Step();
            warmup++;
        }
        var stepSeconds = new double[o.TimedSteps];
        var bandwidths = new double[o.TimedSteps];
        for (int i = 0; i < o.TimedSteps; i++)
        {
            long start = Stopwatch.GetTimestamp();
            var stats = engine.Step();
            stepSeconds[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (stats.TokensDecoded != batch)
                throw new InvalidOperationException($"decode benchmark: step decoded {stats.TokensDecoded} tokens, expected {batch}.");
            bandwidths[i] = probe.MeasureGBs();
        }

        // During timed step i (from 0) every sequence attends over prompt + warm-up + i + 1 positions.
        double averageContext = prompt + warmup + 1 + (o.TimedSteps - 1) / 2.0;
        // Medians: robust to other processes on a small shared machine.
        return (batch / Median(stepSeconds), averageContext, Median(bandwidths));
    }

    private static double Median(double[] values)
    {
        Array.Sort(values);
        int n = values.Length;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }

    private static double MeasurePrefill(LlamaModel model, int tokens)
    {
        using var engine = NewEngine(model, 1, tokens + 1, tokens);
        var prompt = Prompt(model, tokens, seed: 1000);
        double best = 0;
        for (int run = 0; run < 3; run++) // the first run is warm-up
        {
            var task = engine.Submit(new GenerationRequest($"prefill-{run}", prompt, MaxTokens: 1) { IgnoreEos = true });
            long start = Stopwatch.GetTimestamp();
            while (!task.IsCompleted) engine.Step();
            double rate = tokens / Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (run > 0) best = Math.Max(best, rate);
        }
        return best;
    }

    /// <summary>A prefill-shaped GEMM ([tokens, in] × [out, in]ᵀ) on the model's largest matrix; best of N.</summary>
    private static double MeasureGemm(LlamaModel model, int tokens, int repeats)
    {
        var largest = model.LmHead;
        foreach (var w in model.Layers[0].Linear)
            if ((long)w.Rows * w.Cols > (long)largest.Rows * largest.Cols) largest = w;
        var x = new float[(long)tokens * largest.Cols];
        var random = new Random(7);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() - 0.5);
        var y = new float[(long)tokens * largest.Rows];
        Gemm.MatMulTransposed(x, tokens, largest, y);
        double best = double.MaxValue;
        for (int r = 0; r < Math.Max(1, repeats); r++)
        {
            long start = Stopwatch.GetTimestamp();
            Gemm.MatMulTransposed(x, tokens, largest, y);
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return 2.0 * tokens * largest.Rows * largest.Cols / best / 1e9;
    }

    /// <summary>An engine whose KV cache holds exactly <paramref name="sequences"/> of <paramref name="tokensPerSequence"/> tokens
    /// (plus one block); the step sweep uses it too.</summary>
    internal static InferenceEngine NewEngine(LlamaModel model, int sequences, int tokensPerSequence, int maxBatchTokens,
                                              LoraKernelKind kernel = LoraKernelKind.Segmented)
    {
        const int blockSize = 16;
        long blocks = sequences * (long)((tokensPerSequence + blockSize - 1) / blockSize) + 1;
        return new InferenceEngine(model, null, new EngineOptions
        {
            KvCacheBytes = blocks * PagedKvCache.BytesPerBlock(model.Config, blockSize),
            BlockSize = blockSize,
            MaxBatchTokens = maxBatchTokens,
            MaxSequences = Math.Max(sequences, 1),
            LoraKernel = kernel == LoraKernelKind.Padded ? MultiLoraKernels.Padded : MultiLoraKernels.Segmented,
        });
    }

    private static int[] Prompt(LlamaModel model, int length, int seed)
    {
        var random = new Random(seed);
        var tokens = new int[length];
        for (int i = 0; i < length; i++) tokens[i] = random.Next(model.Config.VocabSize);
        return tokens;
    }
}
