using LoRAQueue.Contracts.Admission;
using LoRAQueue.Formats;

namespace LoRAQueue.Admission;

/// <summary>
/// The base model's context and tokenizer (config.json + tokenizer files), loaded once, so a prompt that cannot fit is
/// refused at admission rather than failing on a worker minutes later. Prompts are counted exactly as workers count them:
/// <see cref="ModelTokenizer.Encode"/> with the bos token.
/// </summary>
public sealed class ModelLimits
{
    private readonly ModelTokenizer _tokenizer;

    public ModelLimits(string modelPath, int configuredMaxTokens)
    {
        var config = ModelConfig.Load(modelPath);
        _tokenizer = ModelTokenizer.Load(modelPath);
        Limits = new AdmissionLimits(config.MaxPositionEmbeddings, configuredMaxTokens);
    }

    public AdmissionLimits Limits { get; }

    public int CountTokens(string prompt) => _tokenizer.Encode(prompt).Count;
}
