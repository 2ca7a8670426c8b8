using System.Diagnostics;
using LoRAQueue.Engine;

namespace LoRAQueue.Worker;

/// <summary>
/// The start-up measurement behind OP[0]: <paramref name="batchCapacity"/> short greedy requests with no adapter, all
/// submitted at once to the running engine, so that it decodes a full batch; the throughput is the output tokens over
/// the wall time until the last one finishes. A decode run per rank with synthetic adapters would be too slow here;
/// the per-rank points come from live jobs instead (<see cref="OperatingPointEstimator"/>).
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
        var started = Stopwatch.GetTimestamp();
        var runs = Enumerable.Range(0, batchCapacity).Select(i => engine.Submit(
            new GenerationRequest($"calibration-{Guid.NewGuid():N}-{i}", promptTokens, MaxTokens: outputTokens), ct)).ToList();
        var results = await Task.WhenAll(runs);
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        long tokens = results.Sum(r => (long)r.OutputTokens.Count);
        if (tokens == 0 || seconds <= 0) throw new InvalidOperationException("the calibration run decoded no tokens");
        return tokens / seconds;
    }
}
