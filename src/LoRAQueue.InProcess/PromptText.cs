using LoRAQueue.Formats;

namespace LoRAQueue.InProcess;

/// <summary>
/// Prompt text of about a given number of tokens for the demo model: windows of the tokenized training corpus,
/// decoded back to text (re-encoding may differ by a token or two at the window's edges).
/// </summary>
public sealed class PromptText
{
    private readonly ModelTokenizer _tokenizer;
    private readonly int[] _corpus;

    public PromptText(ModelTokenizer tokenizer, int minimumTokens)
    {
        _tokenizer = tokenizer;
        var once = tokenizer.Encode(TrainingCorpus.English, addBos: false);
        if (once.Count == 0) throw new InvalidOperationException("the tokenizer encodes the corpus to nothing");
        var corpus = new List<int>();
        while (corpus.Count < minimumTokens * 2) corpus.AddRange(once);
        _corpus = [.. corpus];
    }

    /// <summary>Text that encodes to about <paramref name="tokens"/> tokens, BOS included.</summary>
    public string Make(int tokens, Random rng)
    {
        int length = Math.Max(1, tokens - 1);
        for (int attempt = 0; ; attempt++)
        {
            int start = rng.Next(_corpus.Length - length);
            var text = _tokenizer.Decode(_corpus.AsSpan(start, length).ToArray());
            if (!string.IsNullOrWhiteSpace(text) || attempt >= 16) return string.IsNullOrWhiteSpace(text) ? "Hello" : text;
        }
    }
}
