namespace LoRAQueue.Contracts.Admission;

/// <summary>
/// What a job is admitted against: the model's context (max_position_embeddings), the largest maxTokens a job may ask for
/// (the configured limit, capped at context − 1) and, on a worker, the most tokens one sequence can hold in its KV cache.
/// </summary>
public sealed record AdmissionLimits
{
    public AdmissionLimits(int contextLength, int configuredMaxTokens, long? maxSequenceTokens = null)
    {
        if (contextLength < 2) throw new ArgumentOutOfRangeException(nameof(contextLength), contextLength, "the context must hold at least 2 tokens");
        ContextLength = contextLength;
        MaxTokens = Math.Clamp(configuredMaxTokens, 1, contextLength - 1);
        MaxSequenceTokens = maxSequenceTokens;
    }

    public int ContextLength { get; }
    public int MaxTokens { get; }

    /// <summary>Null where no KV cache is known (the gateway); a worker sets its whole cache's capacity.</summary>
    public long? MaxSequenceTokens { get; }

    /// <summary>maxTokens when the producer leaves it out.</summary>
    public int DefaultMaxTokens => Math.Min(SubmitJobRules.DefaultMaxTokens, MaxTokens);
}
