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

    /// <summary>The worker's start-up calibration: OP[0] at its batch capacity (LoRAQueue:Worker:MaxSequences), through the
    /// running engine whatever its backend (on the emulated one the steps last what the profile prices them at, so this reads
    /// the profile's decode throughput at that batch).</summary>
    public static Task<double> CalibrateAsync(EngineRuntime runtime, int batchCapacity, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        return MeasureBaseDecodeTokensPerSecondAsync(runtime.Engine, runtime.Tokenizer.Encode(Prompt), batchCapacity, OutputTokens, ct);
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
