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
