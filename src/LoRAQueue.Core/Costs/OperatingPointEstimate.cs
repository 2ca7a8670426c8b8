namespace LoRAQueue.Core.Costs;

/// <summary>
/// The operating point a step-cost model implies: (prompt + output) tokens per second of one saturated server whose
/// requests all have the same prompt and output lengths and one adapter rank (LoRAServe's single-rank sweeps).
/// Each request costs one prefill step of its whole prompt (K = prompt, L = prompt × rank) plus its share of
/// <c>output</c> decode steps of a full batch (D = batch, K = batch × the average context prompt + output/2,
/// L = batch × rank): time = T_prefill + output × T_decode / batch; the estimate is (prompt + output) ÷ time.
/// </summary>
public static class OperatingPointEstimate
{
    public static double TokensPerSecond(IStepCostModel model, int rank, int promptTokens, int outputTokens, int batch,
                                         LoraKernelKind kernel = LoraKernelKind.Segmented)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(promptTokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputTokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        return (promptTokens + outputTokens) / RequestSeconds(model, rank, promptTokens, outputTokens, batch, kernel);
    }

    /// <summary>Server seconds one request takes: its prefill step plus its share of the decode steps.</summary>
    public static double RequestSeconds(IStepCostModel model, int rank, int promptTokens, int outputTokens, int batch,
                                        LoraKernelKind kernel = LoraKernelKind.Segmented)
    {
        var (prefill, decode) = Steps(rank, promptTokens, outputTokens, batch);
        return model.StepTime(prefill, kernel).TotalSeconds + outputTokens * model.StepTime(decode, kernel).TotalSeconds / batch;
    }

    /// <summary>The two step shapes of the estimate.</summary>
    public static (StepShape Prefill, StepShape Decode) Steps(int rank, int promptTokens, int outputTokens, int batch)
    {
        long context = promptTokens + outputTokens / 2;
        var prefill = new StepShape(promptTokens, 0, promptTokens, [new LoraSegment(promptTokens, rank)]);
        var decode = new StepShape(0, batch, batch * context, [new LoraSegment(batch, rank)]);
        return (prefill, decode);
    }

    /// <summary>The model's estimate next to each measured operating point of the profile: (rank, measured, estimated).</summary>
    public static IReadOnlyList<(int Rank, double Measured, double Estimated)> Compare(IStepCostModel model, ProfileOperatingPoints points) =>
        [.. points.TokensPerS.OrderBy(kv => kv.Key)
            .Select(kv => (kv.Key, kv.Value, TokensPerSecond(model, kv.Key, points.PromptTokens, points.OutputTokens, points.Batch)))];
}
