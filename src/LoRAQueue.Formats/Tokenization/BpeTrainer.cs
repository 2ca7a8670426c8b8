namespace LoRAQueue.Formats;

/// <summary>What <see cref="BpeTrainer"/> learned: the base symbols (most frequent first) and the merges in the order learned.</summary>
public sealed record BpeVocabulary(IReadOnlyList<string> Alphabet, IReadOnlyList<(string Left, string Right)> Merges);

/// <summary>
/// A small deterministic byte-pair-encoding trainer: repeatedly merges the most frequent adjacent pair of
/// symbols across the words of a corpus. Quadratic-ish, meant for a corpus of a few KB, not for real training.
/// </summary>
public static class BpeTrainer
{
    /// <param name="wordCounts">Each distinct pre-tokenized word with how often it occurs.</param>
    /// <param name="maxMerges">Stop after this many merges.</param>
    /// <param name="minPairCount">Stop when the best pair occurs fewer times than this.</param>
    /// <param name="maxPieceLength">Never build a piece longer than this many symbols.</param>
    public static BpeVocabulary Train(IReadOnlyDictionary<string, int> wordCounts, int maxMerges,
                                      int minPairCount = 2, int maxPieceLength = 16)
    {
        ArgumentNullException.ThrowIfNull(wordCounts);
        ArgumentOutOfRangeException.ThrowIfNegative(maxMerges);

        // Sorted so that the result does not depend on the dictionary's enumeration order.
        var words = wordCounts.Where(w => w.Value > 0 && w.Key.Length > 0)
                              .OrderBy(w => w.Key, StringComparer.Ordinal)
                              .Select(w => (Symbols: SplitSymbols(w.Key), Count: w.Value))
                              .ToList();

        var symbolCounts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (symbols, count) in words)
            foreach (var s in symbols)
                symbolCounts[s] = symbolCounts.GetValueOrDefault(s) + count;
        var alphabet = symbolCounts.OrderByDescending(s => s.Value).ThenBy(s => s.Key, StringComparer.Ordinal)
                                   .Select(s => s.Key).ToList();
        var symbolLength = alphabet.ToDictionary(s => s, _ => 1, StringComparer.Ordinal);

        var merges = new List<(string, string)>();
        while (merges.Count < maxMerges)
        {
            var best = FindBestPair(words, symbolLength, minPairCount, maxPieceLength);
            if (best is null) break;
            var (left, right) = best.Value;
            merges.Add((left, right));
            symbolLength.TryAdd(left + right, symbolLength[left] + symbolLength[right]);
            foreach (var (symbols, _) in words) ApplyMerge(symbols, left, right);
        }
        return new BpeVocabulary(alphabet, merges);
    }

    /// <summary>Splits into Unicode scalar values, so a surrogate pair stays one symbol.</summary>
    public static List<string> SplitSymbols(string word)
    {
        var symbols = new List<string>(word.Length);
        foreach (var rune in word.EnumerateRunes()) symbols.Add(rune.ToString());
        return symbols;
    }

    private static (string, string)? FindBestPair(List<(List<string> Symbols, int Count)> words,
                                                  Dictionary<string, int> symbolLength, int minPairCount, int maxPieceLength)
    {
        var pairCounts = new Dictionary<(string, string), long>();
        foreach (var (symbols, count) in words)
            for (int i = 0; i + 1 < symbols.Count; i++)
                if (symbolLength[symbols[i]] + symbolLength[symbols[i + 1]] <= maxPieceLength)
                    pairCounts[(symbols[i], symbols[i + 1])] = pairCounts.GetValueOrDefault((symbols[i], symbols[i + 1])) + count;

        (string, string)? best = null;
        long bestCount = 0;
        foreach (var (pair, count) in pairCounts)
        {
            // Ties go to the ordinally smaller pair: deterministic across runtimes.
            if (count > bestCount || (count == bestCount && best is { } b && ComparePairs(pair, b) < 0))
            {
                best = pair;
                bestCount = count;
            }
        }
        return bestCount >= Math.Max(1, minPairCount) ? best : null;
    }

    private static int ComparePairs((string L, string R) x, (string L, string R) y)
    {
        int c = string.CompareOrdinal(x.L, y.L);
        return c != 0 ? c : string.CompareOrdinal(x.R, y.R);
    }

    private static void ApplyMerge(List<string> symbols, string left, string right)
    {
        int write = 0;
        for (int read = 0; read < symbols.Count; read++)
        {
            if (read + 1 < symbols.Count && symbols[read] == left && symbols[read + 1] == right)
            {
                symbols[write++] = left + right;
                read++;
            }
            else symbols[write++] = symbols[read];
        }
        symbols.RemoveRange(write, symbols.Count - write);
    }
}
