using LoRAQueue.Engine;

namespace LoRAQueue.Worker;

/// <summary>
/// The start-up measurement behind OP[0]: <paramref name="batchCapacity"/> greedy requests with no adapter, all submitted
/// at once to the running engine, so that it decodes a full batch. OP[0] = batch capacity ÷ the mean time per output
/// token — decode only, measured exactly as the per-rank points are (<see cref="OperatingPointEstimator"/>): counting the
/// prefill in as well read the base ~40 % low, below every rank, and the rank points all flattened onto it.
/// </summary>
public static class EngineCalibration
{
    /// <summary>The calibration requests' prompt (tokenized by the worker's own tokenizer).</summary>
    public const string Prompt = "Calibration: the quick brown fox jumps over the lazy dog.";

    /// <summary>Output tokens per calibration request.</summary>
    public const int OutputTokens = 16;

    /// <summary>Rounds an emulated engine's calibration may take.</summary>
    public const int EmulatedAttempts = 5;

    /// <summary>The worker's start-up calibration: OP[0] at its batch capacity (LoRAQueue:Worker:MaxSequences), through the
    /// running engine whatever its backend (on the emulated one the steps last what the profile prices them at, so this reads
    /// the profile's decode throughput at that batch). An emulated engine whose steps fell behind the model during the round
    /// by more than 2 % of it (the host was CPU-starved, e.g. by many workers starting at once: the steps could not keep the
    /// accelerator's pace) measures again after a pause, up to <see cref="EmulatedAttempts"/> rounds, keeping the best;
    /// <paramref name="warn"/> hears of each such round.</summary>
    public static async Task<double> CalibrateAsync(EngineRuntime runtime, int batchCapacity, CancellationToken ct, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        var engine = runtime.Engine;
        var prompt = runtime.Tokenizer.Encode(Prompt);
        double best = 0;
        for (int attempt = 1; ; attempt++)
        {
            var lostBefore = engine.EmulationLostTime;
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            double tps = await MeasureBaseDecodeTokensPerSecondAsync(engine, prompt, batchCapacity, OutputTokens, ct);
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(start);
            var lost = engine.EmulationLostTime - lostBefore;
            best = Math.Max(best, tps);
            if (!engine.IsEmulated || lost.TotalSeconds <= 0.02 * elapsed.TotalSeconds) return attempt == 1 ? tps : best;
            warn?.Invoke(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"calibration round {attempt}: the emulated steps ran {lost.TotalMilliseconds:F0} ms behind the model in {elapsed.TotalMilliseconds:F0} ms ({tps:F1} tokens/s): the host is short of CPU"));
            if (attempt == EmulatedAttempts) return best;
            await Task.Delay(TimeSpan.FromSeconds(attempt), ct);
        }
    }

    public static async Task<double> MeasureBaseDecodeTokensPerSecondAsync(InferenceEngine engine, IReadOnlyList<int> promptTokens,
                                                                           int batchCapacity, int outputTokens, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputTokens, 2);
        if (promptTokens.Count == 0) throw new ArgumentException("the calibration prompt is empty", nameof(promptTokens));
        var runs = Enumerable.Range(0, batchCapacity).Select(i => engine.Submit(
            new GenerationRequest($"calibration-{Guid.NewGuid():N}-{i}", promptTokens, MaxTokens: outputTokens), ct)).ToList();
        var results = await Task.WhenAll(runs);
        var perToken = results.Where(r => r.OutputTokens.Count >= 2).Select(r => r.Timings.TimePerOutputToken.TotalSeconds)
            .Where(s => s > 0).ToList();
        if (perToken.Count == 0) throw new InvalidOperationException("the calibration run decoded no tokens");
        return batchCapacity / perToken.Average();
    }
}
