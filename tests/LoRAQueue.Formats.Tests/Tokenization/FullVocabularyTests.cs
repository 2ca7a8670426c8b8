using System.Text;
using LoRAQueue.Formats.Tests.Synthetic;

namespace LoRAQueue.Formats.Tests.Tokenization;

/// <summary>
/// A 32000-piece tokenizer from a corpus that only yields ~720 learned pieces: the rest are padded merges,
/// so that a random model's sampled ids all decode to text.
/// </summary>
public sealed class FullVocabularyFixture : IDisposable
{
    private readonly TempDirectory _dir = new();

    public FullVocabularyFixture()
    {
        Spec = SentencePieceBpeBuilder.Build(VocabSize);
        SentencePieceModelWriter.Write(_dir.Combine("tokenizer.model"), Spec);
        Tokenizer = ModelTokenizer.Load(_dir.Path);
    }

    public const int VocabSize = 32000;
    public SentencePieceModelSpec Spec { get; }
    public ModelTokenizer Tokenizer { get; }

    public void Dispose() => _dir.Dispose();
}

public class FullVocabularyTests(FullVocabularyFixture full) : IClassFixture<FullVocabularyFixture>
{
    private const int Size = FullVocabularyFixture.VocabSize;

    [Fact]
    public void TheTokenizerKnowsEveryIdOfTheModelVocabulary()
    {
        Assert.Equal(Size, full.Spec.Pieces.Count);
        Assert.Equal(Size, full.Tokenizer.VocabCount);
        Assert.All(Enumerable.Range(0, Size), id => Assert.True(full.Tokenizer.IsKnown(id)));
        Assert.Equal(Size, full.Spec.Pieces.Select(p => p.Piece).Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void EveryIdButTheSpecialTokensDecodesToText()
    {
        var specials = new[] { SentencePieceBpeBuilder.UnkId, SentencePieceBpeBuilder.BosId, SentencePieceBpeBuilder.EosId };
        int anchor = full.Tokenizer.Encode("A", addBos: false).Single();
        int bareBoundary = full.Spec.Pieces.ToList().FindIndex(p => p.Piece == SentencePieceBpeBuilder.WordBoundary);

        for (int id = 0; id < Size; id++)
        {
            if (specials.Contains(id)) continue;
            // Decoding drops the dummy-prefix space of the first piece, so the bare "▁" only shows after another piece.
            if (id != bareBoundary) Assert.NotEqual("", full.Tokenizer.Decode([id]));
            Assert.True(full.Tokenizer.Decode([anchor, id]).Length > 1, $"id {id} ('{full.Spec.Pieces[id].Piece}') decodes to nothing");
        }
        Assert.Equal("A ", full.Tokenizer.Decode([anchor, bareBoundary]));
    }

    [Fact]
    public void EveryMultiCharacterPieceIsWhatTheEncoderMakesOfItsOwnText()
    {
        for (int id = 0; id < Size; id++)
        {
            var piece = full.Spec.Pieces[id];
            if (piece.Type != SentencePieceType.Normal || piece.Piece.EnumerateRunes().Count() < 2) continue;

            var ids = full.Tokenizer.Inner.EncodeToIds(piece.Piece, considerPreTokenization: false, considerNormalization: false);

            Assert.True(ids is [var only] && only == id, $"'{piece.Piece}' (id {id}) encodes to [{string.Join(", ", ids)}]");
        }
    }

    [Fact]
    public void PaddedPiecesLookLikeLearnedOnesWithScoresStillDescending()
    {
        var normal = full.Spec.Pieces.Skip(3 + 256).ToList();

        Assert.All(full.Spec.Pieces.Skip(3).Take(256), p => Assert.Equal(SentencePieceType.Byte, p.Type));
        Assert.All(normal, p => Assert.Equal(SentencePieceType.Normal, p.Type));
        Assert.All(normal.Zip(normal.Skip(1)), pair => Assert.True(pair.First.Score > pair.Second.Score));
        Assert.All(normal, p => Assert.DoesNotContain(SentencePieceBpeBuilder.WordBoundary, p.Piece[1..]));
        Assert.All(normal, p => Assert.InRange(p.Piece.EnumerateRunes().Count(), 1, SentencePieceBpeBuilder.MaxPieceLength));
        Assert.All(normal, p => Assert.DoesNotContain(p.Piece.EnumerateRunes(), r => Rune.IsControl(r) || Rune.IsWhiteSpace(r)));
    }

    [Theory]
    [InlineData("The model serves many adapters at the same time.")]
    [InlineData("  two  spaces, a\ttab and a\nnewline ")]
    [InlineData("héllo wörld — naïve café")]
    [InlineData("日本語のテキストと中文")]
    [InlineData("emoji 🤖🚀 and symbols ∑ ≤ ∞ € ¥")]
    [InlineData("Requesting adapterless continuousness: 1234567890 + 3.14159 = ?!")]
    [InlineData("x")]
    public void EncodeThenDecodeGivesTheTextBack(string text)
    {
        var ids = full.Tokenizer.Encode(text, addBos: false);

        Assert.All(ids, id => Assert.InRange(id, 3, Size - 1));
        Assert.Equal(text, full.Tokenizer.Decode(ids));
    }

    [Fact]
    public void RandomTextRoundTrips()
    {
        var random = new Random(1234);
        string[] alphabet = ["a", "e", "t", "n", "Q", "z", "é", "ß", "語", "🤖", "0", "7", ".", "-", " ", " ", "\n", "\t"]; // not "▁": SentencePiece reads it as a space
        for (int sample = 0; sample < 200; sample++)
        {
            var text = string.Concat(Enumerable.Range(0, random.Next(1, 60)).Select(_ => alphabet[random.Next(alphabet.Length)]));

            Assert.Equal(text, full.Tokenizer.Decode(full.Tokenizer.Encode(text)));
        }
    }

    [Fact]
    public void RandomIdsDecodeToText()
    {
        // What a random-weight model produces: ids spread over the whole vocabulary.
        var random = new Random(42);
        var ids = Enumerable.Range(0, 64).Select(_ => random.Next(3 + 256, Size)).ToList();

        Assert.True(full.Tokenizer.Decode(ids).Length >= ids.Count - 1); // only the first piece may lose its leading space
    }

    [Fact]
    public void BuildsAreRepeatable()
    {
        var again = SentencePieceBpeBuilder.Build(Size);

        Assert.Equal(SentencePieceModelWriter.Serialize(full.Spec), SentencePieceModelWriter.Serialize(again));
    }

    [Fact]
    public void EveryPresetVocabularyIsFilled()
    {
        foreach (var preset in SyntheticModel.Presets.Values)
            Assert.Equal(preset.VocabSize, SentencePieceBpeBuilder.Build(preset.VocabSize).Pieces.Count);
    }
}
