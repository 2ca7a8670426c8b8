namespace LoRAQueue.Core.Costs;

/// <summary>One step's time split into the model's terms, in seconds.</summary>
public readonly record struct StepCostBreakdown(double Overhead, double Weights, double Tokens, double Kv, double Lora)
{
    /// <summary>The weight stream and the per-token work as the profile's form combines them (sum or max).</summary>
    public double WeightsAndTokens { get; init; } = Weights + Tokens;

    public double Total => Overhead + WeightsAndTokens + Kv + Lora;
}

/// <summary>
/// The step-time model of docs/cost-model.md, with its coefficients from an <see cref="AcceleratorProfile"/>:
/// <code>
/// linear:   T = overhead + weight_read + a·P + b·D + c·K + d·L
/// roofline: T = overhead + max(weight_read, a·P + b·D) + c·K + d·L
/// </code>
/// P = prefill tokens, D = decode tokens, K = KV tokens read, L = <see cref="StepShape.LoraTokenRank"/> of the kernel
/// (one price per token-rank for both kernels: the padded kernel pays for the padded token-rank it computes, so a
/// padded step never costs less than the same step segmented, and the two are equal when every segment has one rank).
/// A step with no token costs nothing (the engine runs no forward pass).
/// </summary>
public sealed class LinearStepCostModel : IStepCostModel
{
    readonly double _overhead, _weights, _prefill, _decode, _kv, _lora;

    public LinearStepCostModel(AcceleratorProfile profile)
    {
        Profile = profile.Validated();
        var c = profile.Coefficients!;
        _overhead = c.OverheadMs * 1e-3;
        _weights = c.WeightReadMs * 1e-3;
        _prefill = c.PrefillUsPerToken * 1e-6;
        _decode = c.DecodeUsPerToken * 1e-6;
        _kv = c.KvUsPerToken * 1e-6;
        _lora = c.LoraUsPerTokenRank * 1e-6;
    }

    public AcceleratorProfile Profile { get; }

    public string Name => Profile.Name;

    public StepCostForm Form => Profile.Form;

    public TimeSpan StepTime(StepShape step, LoraKernelKind kernel) => TimeSpan.FromSeconds(Seconds(step, kernel));

    public double Seconds(StepShape step, LoraKernelKind kernel) => Breakdown(step, kernel).Total;

    public StepCostBreakdown Breakdown(StepShape step, LoraKernelKind kernel)
    {
        ArgumentNullException.ThrowIfNull(step);
        if (step.PrefillTokens < 0 || step.DecodeTokens < 0 || step.KvTokensRead < 0)
            throw new ArgumentException($"a step's token counts must not be negative (prefill {step.PrefillTokens}, decode {step.DecodeTokens}, kv {step.KvTokensRead})", nameof(step));
        if (step.Tokens == 0) return default;
        double tokens = _prefill * step.PrefillTokens + _decode * step.DecodeTokens;
        double kv = _kv * step.KvTokensRead;
        double lora = _lora * step.LoraTokenRank(kernel);
        return new StepCostBreakdown(_overhead, _weights, tokens, kv, lora)
        {
            WeightsAndTokens = Form == StepCostForm.Roofline ? Math.Max(_weights, tokens) : _weights + tokens,
        };
    }

    /// <summary>Bytes of a rank-<paramref name="rank"/> adapter of the profile's model.</summary>
    public long AdapterBytes(int rank) => Profile.Model!.LoraBytesPerRank * (long)rank;

    /// <summary>constant + bytes ÷ bandwidth.</summary>
    public TimeSpan AdapterLoadTime(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        var load = Profile.AdapterLoad!;
        return TimeSpan.FromSeconds(load.ConstantMs * 1e-3 + bytes / (load.BandwidthGbs * 1e9));
    }
}
