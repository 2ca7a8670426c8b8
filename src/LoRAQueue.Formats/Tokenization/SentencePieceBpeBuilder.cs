using System.Text.RegularExpressions;

namespace LoRAQueue.Formats;

/// <summary>
/// Builds a Llama-style SentencePiece BPE model from a corpus: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256
/// byte-fallback pieces &lt;0x00&gt;..&lt;0xFF&gt;, the merges learned by <see cref="BpeTrainer"/> (score
/// descending in merge order), then, once the corpus runs out of pairs worth merging, made-up merges of
/// existing pieces (<see cref="SyntheticMerges"/>) until the vocabulary is full, and last the single
/// characters of the corpus, as in Llama's own tokenizer.model. A random model then samples real pieces for
/// (nearly) every id. Text outside the pieces still round-trips through the byte pieces.
/// </summary>
public static partial class SentencePieceBpeBuilder
{
    /// <summary>SentencePiece's visible space, U+2581, which starts every word.</summary>
    public const string WordBoundary = "\u2581";
    public const int UnkId = 0, BosId = 1, EosId = 2;
    /// <summary>The longest piece, in characters, that training or padding makes.</summary>
    public const int MaxPieceLength = 16;
    private const int ReservedPieces = 3 + 256;

    /// <summary>The smallest vocabulary that still holds every character of <paramref name="corpus"/>.</summary>
    public static int MinimumVocabSize(string? corpus = null) =>
        ReservedPieces + BpeTrainer.Train(CountWords(corpus ?? TrainingCorpus.English), maxMerges: 0).Alphabet.Count;

    /// <summary>
    /// A model of <paramref name="maxVocabSize"/> pieces; fewer only for a corpus so small that every pair of
    /// its pieces up to <see cref="MaxPieceLength"/> characters has been used.
    /// </summary>
    public static SentencePieceModelSpec Build(int maxVocabSize, string? corpus = null)
    {
        var words = CountWords(corpus ?? TrainingCorpus.English);
        int alphabetSize = BpeTrainer.Train(words, maxMerges: 0).Alphabet.Count;
        int maxMerges = maxVocabSize - ReservedPieces - alphabetSize;
        if (maxMerges < 0)
            throw new ArgumentOutOfRangeException(nameof(maxVocabSize), maxVocabSize,
                $"a vocabulary needs at least {ReservedPieces + alphabetSize} pieces (3 special, 256 bytes, {alphabetSize} characters)");

        // Different merge paths can spell the same piece, so ask for a few extra and keep the distinct ones.
        var learned = BpeTrainer.Train(words, maxMerges + maxMerges / 4 + 8, maxPieceLength: MaxPieceLength);
        var pieces = new List<SentencePiece>(maxVocabSize)
        {
            new("<unk>", 0, SentencePieceType.Unknown),
            new("<s>", 0, SentencePieceType.Control),
            new("</s>", 0, SentencePieceType.Control),
        };
        for (int b = 0; b < 256; b++) pieces.Add(new($"<0x{b:X2}>", 0, SentencePieceType.Byte));

        var seen = new HashSet<string>(learned.Alphabet, StringComparer.Ordinal);
        var merged = new List<string>(maxMerges);
        foreach (var (left, right) in learned.Merges)
        {
            if (merged.Count >= maxMerges) break;
            if (seen.Add(left + right)) merged.Add(left + right);
        }
        if (merged.Count < maxMerges)
            merged.AddRange(SyntheticMerges.Generate(pieces.Select(p => p.Piece), merged, learned.Alphabet,
                                                     maxMerges - merged.Count, MaxPieceLength));

        int score = 0;
        foreach (var piece in merged) pieces.Add(new(piece, -score++, SentencePieceType.Normal));
        foreach (var symbol in learned.Alphabet) pieces.Add(new(symbol, -score++, SentencePieceType.Normal));

        return new SentencePieceModelSpec(pieces) { UnkId = UnkId, BosId = BosId, EosId = EosId };
    }

    /// <summary>
    /// SentencePiece-style pre-tokenization for training: words start with <see cref="WordBoundary"/>,
    /// and letters, digits and punctuation never share a piece.
    /// </summary>
    public static Dictionary<string, int> CountWords(string corpus)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in corpus.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            bool first = true;
            foreach (Match run in ScriptRun().Matches(token))
            {
                string word = first ? WordBoundary + run.Value : run.Value;
                counts[word] = counts.GetValueOrDefault(word) + 1;
                first = false;
            }
        }
        return counts;
    }

    [GeneratedRegex(@"[\p{L}\p{M}]+|\p{N}+|[^\p{L}\p{M}\p{N}]+")]
    private static partial Regex ScriptRun();
}
