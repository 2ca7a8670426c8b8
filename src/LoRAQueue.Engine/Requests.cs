namespace LoRAQueue.Engine;

/// <summary>How the next token is picked. Temperature 0 = greedy (argmax); TopK 0 = off; TopP 1 = off.
/// With a Seed the draws depend only on the seed and the output position, never on the batch.</summary>
public sealed record SamplingParams(float Temperature = 0, float TopP = 1, int TopK = 0, ulong? Seed = null)
{
    public static SamplingParams Greedy { get; } = new();
}

/// <summary>One generation request. AdapterId null = base model.</summary>
public sealed record GenerationRequest(
    string Id,
    IReadOnlyList<int> PromptTokens,
    string? AdapterId = null,
    SamplingParams? Sampling = null,
    int MaxTokens = 64,
    IReadOnlyList<string>? StopStrings = null,
    bool CaptureLogits = false)
{
    /// <summary>Keep generating past EOS tokens (benchmarks: fixed-length decode).</summary>
    public bool IgnoreEos { get; init; }
}

public enum FinishReason { Eos, Stop, Length, Cancelled }

/// <summary>Wait = submit → first scheduled; TTFT = submit → first output token;
/// TimePerOutputToken = (finish − first token) / (outputs − 1); Total = submit → finish.</summary>
public sealed record RequestTimings(TimeSpan Wait, TimeSpan TimeToFirstToken, TimeSpan TimePerOutputToken, TimeSpan Total);

/// <summary>OutputTokens include an EOS token that ended generation; Text does not, and is cut before a stop string.
/// Logits (when requested): one vocab-sized row per output token, the distribution it was sampled from.</summary>
public sealed record GenerationResult(
    string Id,
    IReadOnlyList<int> OutputTokens,
    string Text,
    FinishReason FinishReason,
    RequestTimings Timings,
    int PromptTokenCount,
    IReadOnlyList<float[]>? Logits)
{
    /// <summary>How many times the sequence was preempted (its KV cache dropped and recomputed).</summary>
    public int Preemptions { get; init; }
}

/// <summary>What one engine iteration did.</summary>
public sealed record StepStats(
    int TokensPrefilled,
    int TokensDecoded,
    int SequencesRunning,
    int SequencesWaiting,
    int KvBlocksUsed,
    int KvBlocksFree,
    TimeSpan StepTime)
{
    public int SequencesFinished { get; init; }
    public int SequencesPreempted { get; init; }
    /// <summary>The cost model's price of the step (emulated backend: what the step was made to last); null when it really computed.</summary>
    public TimeSpan? ModelledStepTime { get; init; }
    public int TokensScheduled => TokensPrefilled + TokensDecoded;
}
