using System.Globalization;
using System.Text;

namespace LoRAQueue.Formats;

/// <summary>
/// Pads a small learned BPE vocabulary out to a model's full vocab_size with made-up merges. Each new piece
/// joins two pieces already there, and is kept only when SentencePiece's BPE encoder, given the new piece's
/// text, ends with exactly two pieces: appended with a score below every earlier piece, the encoder then
/// really produces it. Later (lower-scored) pieces cannot undo that, so every kept piece stays reachable.
/// New pieces keep the shape the pre-tokenizer gives learned ones: a word boundary only in front, and
/// letters, digits and punctuation never mixed.
/// </summary>
internal static class SyntheticMerges
{
    private const int WordBoundaryCodePoint = '\u2581';

    private enum CharClass { None, Letter, Digit, Other }

    private readonly record struct Shape(string Text, bool StartsWord, CharClass Class, int Runes);

    /// <param name="reserved">Special and byte pieces: the encoder also matches them, ahead of every merge.</param>
    /// <param name="merges">The merged pieces, best score first.</param>
    /// <param name="alphabet">The single characters, most frequent first.</param>
    /// <param name="count">How many pieces to make; fewer come back only when every pair has been tried.</param>
    /// <param name="maxPieceLength">Never make a piece longer than this many characters.</param>
    /// <returns>The new pieces, in the order their scores must descend after <paramref name="merges"/>.</returns>
    public static List<string> Generate(IEnumerable<string> reserved, IReadOnlyList<string> merges,
                                        IReadOnlyList<string> alphabet, int count, int maxPieceLength)
    {
        // Lower rank = higher score, as the encoder sees it; single characters are never a pair's concatenation.
        var rank = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var piece in reserved) rank.TryAdd(piece, -1);
        for (int i = 0; i < merges.Count; i++) rank.TryAdd(merges[i], i);
        foreach (var symbol in alphabet) rank.TryAdd(symbol, int.MaxValue);
        var lookup = rank.GetAlternateLookup<ReadOnlySpan<char>>();

        // Frequent, short partners first: characters by frequency, then merges in the order they were learned.
        var partners = alphabet.Concat(merges).Select(TryShape).OfType<Shape>().ToList();
        var created = new List<string>(Math.Max(0, count));
        var buffer = new char[2 * maxPieceLength];
        int nextRank = merges.Count;

        // Shell n pairs partner n with every earlier one, both ways round; new pieces join the end of the list.
        for (int n = 0; n < partners.Count && created.Count < count; n++)
        {
            for (int j = 0; j <= n && created.Count < count; j++)
            {
                TryAdd(partners[j], partners[n]);
                if (j != n && created.Count < count) TryAdd(partners[n], partners[j]);
            }
        }
        return created;

        void TryAdd(Shape left, Shape right)
        {
            if (right.StartsWord || left.Runes + right.Runes > maxPieceLength) return;
            if (left.Class != CharClass.None && left.Class != right.Class) return;
            left.Text.CopyTo(buffer);
            right.Text.CopyTo(buffer.AsSpan(left.Text.Length));
            var text = buffer.AsSpan(0, left.Text.Length + right.Text.Length);
            if (lookup.ContainsKey(text) || EncodedPieceCount(text, lookup) != 2) return;

            var piece = text.ToString();
            rank.Add(piece, nextRank++);
            created.Add(piece);
            partners.Add(right with { Text = piece, StartsWord = left.StartsWord, Runes = left.Runes + right.Runes });
        }
    }

    /// <summary>
    /// How many pieces SentencePiece's BPE leaves of <paramref name="text"/>: it merges the best-ranked adjacent
    /// pair until none is in the vocabulary. -1 when two pairs tie for best, since encoders break ties differently.
    /// </summary>
    private static int EncodedPieceCount(ReadOnlySpan<char> text, Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> rank)
    {
        Span<int> starts = stackalloc int[text.Length + 1];
        int symbols = 0;
        for (int i = 0; i < text.Length; i += i + 1 < text.Length && char.IsSurrogatePair(text[i], text[i + 1]) ? 2 : 1) starts[symbols++] = i;
        starts[symbols] = text.Length;

        while (symbols > 1)
        {
            int best = -1, bestRank = int.MaxValue;
            bool tie = false;
            for (int i = 0; i + 1 < symbols; i++)
            {
                if (!rank.TryGetValue(text[starts[i]..starts[i + 2]], out int r)) continue;
                if (r < bestRank) (best, bestRank, tie) = (i, r, false);
                else if (r == bestRank) tie = true;
            }
            if (best < 0) break;
            if (tie) return -1;
            starts[(best + 2)..(symbols + 1)].CopyTo(starts[(best + 1)..]);
            symbols--;
        }
        return symbols;
    }

    /// <summary>The piece's shape, or null when it is not printable or has a word boundary past its start.</summary>
    private static Shape? TryShape(string piece)
    {
        bool startsWord = piece.StartsWith(SentencePieceBpeBuilder.WordBoundary, StringComparison.Ordinal);
        var body = startsWord ? piece[SentencePieceBpeBuilder.WordBoundary.Length..] : piece;
        var bodyClass = CharClass.None;
        int runes = startsWord ? 1 : 0;
        foreach (var rune in body.EnumerateRunes())
        {
            var runeClass = Classify(rune);
            if (runeClass == CharClass.None || rune.Value == WordBoundaryCodePoint) return null;
            if (bodyClass != CharClass.None && runeClass != bodyClass) return null;
            bodyClass = runeClass;
            runes++;
        }
        return runes == 0 ? null : new Shape(piece, startsWord, bodyClass, runes);
    }

    private static CharClass Classify(Rune rune) => Rune.GetUnicodeCategory(rune) switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator
            or UnicodeCategory.ParagraphSeparator => CharClass.None,
        var c when Rune.IsLetter(rune) || c is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
            or UnicodeCategory.EnclosingMark => CharClass.Letter,
        _ when Rune.IsNumber(rune) => CharClass.Digit,
        _ => CharClass.Other,
    };
}
