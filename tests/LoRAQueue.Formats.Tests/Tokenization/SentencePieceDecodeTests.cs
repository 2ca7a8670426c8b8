using System.Text.Json;
using LoRAQueue.Formats.Tests.Synthetic;

namespace LoRAQueue.Formats.Tests.Tokenization;

/// <summary>Decoding against SentencePiece's own decoder: Fixtures/sentencepiece-decode.json holds 500 random id sequences
/// (word pieces, byte pieces making valid and broken UTF-8, control and unknown ids) and what sentencepiece 0.1.97
/// decodes them to, for the tokenizer of <c>model create --preset tiny --seed 7</c> (make_decode_fixtures.py).</summary>
public sealed class SentencePieceDecodeTests : IDisposable
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Tokenization", "Fixtures");
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private ModelTokenizer Tiny7()
    {
        File.Copy(Path.Combine(Fixtures, "tiny7.tokenizer.model"), _dir.Combine("tokenizer.model"));
        return ModelTokenizer.Load(_dir.Path);
    }

    private static IEnumerable<(int[] Ids, string Text)> Cases()
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Fixtures, "sentencepiece-decode.json")));
        return json.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray(), c.GetProperty("text").GetString()!))
            .ToList();
    }

    [Fact]
    public void DecodesEveryRandomSequenceAsSentencePieceDoes()
    {
        var tokenizer = Tiny7();
        var cases = Cases().ToList();
        Assert.Equal(500, cases.Count);
        var wrong = cases.Where(c => tokenizer.Decode(c.Ids) != c.Text)
            .Select(c => $"[{string.Join(",", c.Ids)}]: expected {JsonSerializer.Serialize(c.Text)}, got {JsonSerializer.Serialize(tokenizer.Decode(c.Ids))}")
            .ToList();
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {cases.Count} differ:\n{string.Join("\n", wrong.Take(10))}");
    }

    [Fact]
    public void KeepsTheSpaceOfAWordPieceAfterAPieceWithoutOne()
    {
        var tokenizer = Tiny7();
        var vocabulary = ((Microsoft.ML.Tokenizers.SentencePieceTokenizer)tokenizer.Inner).Vocabulary;
        int caret = vocabulary["<0x5E>"], p = vocabulary["\u2581p"];

        Assert.Equal("^ p", tokenizer.Decode([caret, p])); // the reported case: Microsoft.ML.Tokenizers gave "^p"
        Assert.Equal("p", tokenizer.Decode([p]));
        Assert.Equal("p", tokenizer.Decode([1, p])); // bos has no text: the dummy prefix is still to drop
    }

    [Fact]
    public void GrowingPrefixesDecodeToGrowingText()
    {
        // The engine decodes the whole output after every token to find stop strings; the text it cuts must be a prefix of
        // the final text whenever the last piece completes a character.
        var tokenizer = Tiny7();
        foreach (var (ids, text) in Cases())
            for (int n = 0; n <= ids.Length; n++)
            {
                string prefix = tokenizer.Decode(ids[..n]);
                if (!prefix.EndsWith('\uFFFD')) Assert.StartsWith(prefix, text, StringComparison.Ordinal);
            }
    }

    [Fact]
    public void SkipsIdsOutsideTheModel()
    {
        var tokenizer = Tiny7();
        var (ids, text) = Cases().First(c => c.Ids.Length > 3);
        Assert.Equal(text, tokenizer.Decode([-1, .. ids, 512, int.MaxValue]));
    }
}
