using LoRAQueue.Contracts;

namespace LoRAQueue.Worker;

/// <summary>Why a job can never run: a <see cref="FailureReasons"/> code and a message for the producer.</summary>
public sealed record JobRejection(string ReasonCode, string Message);

/// <summary>Checks a SubmitJob against this worker's model and limits before it reaches the engine.</summary>
public sealed class JobValidator(EngineRuntime runtime, WorkerSettings settings)
{
    public const int MaxStopStrings = 16;

    private int ContextLength => runtime.Config.MaxPositionEmbeddings;

    /// <summary>Largest maxTokens a job may ask for on this worker.</summary>
    public int MaxTokensLimit => Math.Min(settings.MaxTokensLimit, ContextLength - 1);

    /// <summary>Checks everything that does not need the prompt's tokens.</summary>
    public JobRejection? CheckRequest(SubmitJob job)
    {
        if (job.SchemaVersion > MessageSchema.CurrentVersion || job.SchemaVersion < 1)
            return Invalid($"schemaVersion {job.SchemaVersion} is not supported (this worker reads 1..{MessageSchema.CurrentVersion})");
        if (string.IsNullOrWhiteSpace(job.Prompt)) return Invalid("the prompt is empty");
        if (job.MaxTokens < 1 || job.MaxTokens > MaxTokensLimit)
            return Invalid($"maxTokens must be between 1 and {MaxTokensLimit} (got {job.MaxTokens})");
        if (job.AdapterId is { } id && string.IsNullOrWhiteSpace(id)) return Invalid("adapterId is blank; omit it for the base model");
        // A cheap bound before tokenizing: even at 64 characters a token such a prompt could not fit the context.
        if (job.Prompt.Length > (long)ContextLength * 64)
            return TooLong($"the prompt has {job.Prompt.Length} characters, far beyond the model's context of {ContextLength} tokens");
        if (job.Sampling is { } s)
        {
            if (!float.IsFinite(s.Temperature) || s.Temperature < 0) return Invalid($"sampling.temperature must be a finite number ≥ 0 (got {s.Temperature})");
            if (!(s.TopP > 0 && s.TopP <= 1)) return Invalid($"sampling.topP must be in (0, 1] (got {s.TopP})");
            if (s.TopK < 0) return Invalid($"sampling.topK must be ≥ 0, 0 = off (got {s.TopK})");
            if (s.Stop is { } stops)
            {
                if (stops.Length > MaxStopStrings) return Invalid($"sampling.stop has {stops.Length} strings; at most {MaxStopStrings}");
                if (stops.Any(string.IsNullOrEmpty)) return Invalid("sampling.stop must not contain empty strings");
            }
        }
        return null;
    }

    /// <summary>Checks that the tokenized prompt plus the tokens to generate fit the context and this worker's KV cache.</summary>
    public JobRejection? CheckLength(int promptTokens, int maxTokens)
    {
        long total = (long)promptTokens + maxTokens;
        if (promptTokens >= ContextLength || total > ContextLength)
            return TooLong($"the prompt is {promptTokens} tokens; with maxTokens {maxTokens} that is {total}, beyond the model's context of {ContextLength} tokens");
        var engine = runtime.Engine;
        int blockSize = engine.Options.BlockSize;
        long blocks = (total - 1 + blockSize - 1) / blockSize;
        if (blocks > engine.KvBlockCount)
            return TooLong($"the prompt ({promptTokens} tokens) plus maxTokens {maxTokens} needs {blocks} KV blocks; this worker's whole cache has {engine.KvBlockCount}");
        return null;
    }

    private static JobRejection Invalid(string message) => new(FailureReasons.InvalidRequest, message);
    private static JobRejection TooLong(string message) => new(FailureReasons.PromptTooLong, message);
}
