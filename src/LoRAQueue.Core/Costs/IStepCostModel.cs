namespace LoRAQueue.Core.Costs;

/// <summary>How a batch's LoRA work is charged: <see cref="Segmented"/> (each segment at its own rank, SGMV/Punica),
/// <see cref="Padded"/> (every token at the batch's largest rank, vLLM's max_lora_rank slots).</summary>
public enum LoraKernelKind { Segmented, Padded }

/// <summary>Tokens of one adapter in a step, at that adapter's rank (rank 0: the base model, no LoRA work).</summary>
public readonly record struct LoraSegment(int Tokens, int Rank);

/// <summary>
/// What one engine step computes, as the cost model sees it: prompt tokens prefilled, sequences decoding one token each,
/// the KV cache tokens attention reads (every scheduled sequence's context), and the batch's adapter segments (their
/// tokens sum to <see cref="PrefillTokens"/> + <see cref="DecodeTokens"/>).
/// </summary>
public sealed record StepShape(int PrefillTokens, int DecodeTokens, long KvTokensRead, IReadOnlyList<LoraSegment> Segments)
{
    public int Tokens => PrefillTokens + DecodeTokens;

    /// <summary>Σ tokens × rank for <see cref="LoraKernelKind.Segmented"/>; tokens × the batch's largest rank for
    /// <see cref="LoraKernelKind.Padded"/> (base-model tokens ride along at that rank in a padded batch too).</summary>
    public long LoraTokenRank(LoraKernelKind kernel)
    {
        if (kernel == LoraKernelKind.Padded)
        {
            int max = 0, tokens = 0;
            foreach (var s in Segments)
            {
                max = Math.Max(max, s.Rank);
                tokens += s.Tokens;
            }
            return (long)tokens * max;
        }
        long sum = 0;
        foreach (var s in Segments) sum += (long)s.Tokens * s.Rank;
        return sum;
    }
}

/// <summary>The time one worker takes for one engine step: the only thing the digital twin does not run for real.</summary>
public interface IStepCostModel
{
    /// <summary>A short name for reports ("cpu-fitted", "a100").</summary>
    string Name { get; }

    TimeSpan StepTime(StepShape step, LoraKernelKind kernel);
}
