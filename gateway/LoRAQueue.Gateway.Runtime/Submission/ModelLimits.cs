using LoRAQueue.Formats;

namespace LoRAQueue.Gateway.Submission;

/// <summary>
/// The base model's context and tokenizer (config.json + tokenizer files under LoRAQueue:Model:Path), loaded once, so a
/// prompt that cannot fit is refused at submission rather than failing on a worker minutes later. Prompts are counted
/// exactly as workers count them: <see cref="ModelTokenizer.Encode"/> with the bos token.
/// </summary>
public sealed class ModelLimits
{
    private readonly ModelTokenizer _tokenizer;

    public ModelLimits(string modelPath, int configuredMaxTokens)
    {
        var config = ModelConfig.Load(modelPath);
        _tokenizer = ModelTokenizer.Load(modelPath);
        ContextLength = config.MaxPositionEmbeddings;
        MaxTokens = Math.Max(1, Math.Min(configuredMaxTokens, ContextLength - 1));
    }

    /// <summary>max_position_embeddings: prompt tokens + max_tokens must fit it.</summary>
    public int ContextLength { get; }

    /// <summary>The largest max_tokens a job may ask for: min(LoRAQueue:Gateway:MaxTokens, context − 1).</summary>
    public int MaxTokens { get; }

    /// <summary>Null when the prompt and the tokens to generate fit the context, otherwise why not.</summary>
    public string? CheckFits(string prompt, int maxTokens) => CheckFits(prompt, maxTokens, out _);

    /// <summary>As <see cref="CheckFits(string, int)"/>, also giving the prompt's token count (0 when refused unread).</summary>
    public string? CheckFits(string prompt, int maxTokens, out int promptTokens)
    {
        promptTokens = 0;
        // A cheap bound before tokenizing: no tokenizer packs 64 characters into one token on average.
        if (prompt.Length > (long)ContextLength * 64)
            return $"the prompt has {prompt.Length} characters, far beyond the model's context of {ContextLength} tokens";
        promptTokens = _tokenizer.Encode(prompt).Count;
        long total = (long)promptTokens + maxTokens;
        return total > ContextLength
            ? $"the prompt is {promptTokens} tokens; with max_tokens {maxTokens} that is {total}, beyond the model's context of {ContextLength} tokens"
            : null;
    }
}
