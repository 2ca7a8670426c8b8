using Microsoft.ML.Tokenizers;

namespace LoRAQueue.Formats.Tests.Tokenization;

public class SentencePieceModelWriterTests
{
    private static readonly SentencePieceModelSpec Model512 = SentencePieceBpeBuilder.Build(512);

    private static LlamaTokenizer LoadWithLibrary(SentencePieceModelSpec spec)
    {
        using var stream = new MemoryStream(SentencePieceModelWriter.Serialize(spec));
        return LlamaTokenizer.Create(stream, addBeginOfSentence: false);
    }

    [Fact]
    public void LlamaTokenizerReadsTheWrittenModel()
    {
        var tokenizer = LoadWithLibrary(Model512);

        Assert.Equal(512, Model512.Pieces.Count);
        Assert.Equal(Model512.Pieces.Count, tokenizer.Vocabulary.Count);
        for (int id = 0; id < Model512.Pieces.Count; id += 37)
            Assert.Equal(id, tokenizer.Vocabulary[Model512.Pieces[id].Piece]);
        Assert.Equal(0, tokenizer.UnknownId);
        Assert.Equal(1, tokenizer.BeginningOfSentenceId);
        Assert.Equal(2, tokenizer.EndOfSentenceId);
        Assert.True(tokenizer.ByteFallback);
        Assert.True(tokenizer.AddDummyPrefix);
    }

    [Theory]
    [InlineData("The model serves many adapters at the same time.")]
    [InlineData("  two  spaces, a\ttab and a\nnewline ")]
    [InlineData("héllo wörld — naïve café")]
    [InlineData("日本語のテキストと中文")]
    [InlineData("emoji 🤖🚀 and symbols ∑ ≤ ∞ € ¥")]
    [InlineData(" leading space")]
    [InlineData("x")]
    [InlineData("")]
    [InlineData("1234567890 + 3.14159 = ?!")]
    public void EncodeThenDecodeGivesTheTextBack(string text)
    {
        var tokenizer = LoadWithLibrary(Model512);

        var ids = tokenizer.EncodeToIds(text);

        Assert.All(ids, id => Assert.InRange(id, 3, Model512.Pieces.Count - 1)); // no <unk>, no control tokens
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Theory]
    [InlineData("the")]
    [InlineData("model")]
    [InlineData("and")]
    [InlineData("adapter")]
    [InlineData("request")]
    public void CommonWordsBecomeSingleTokens(string word)
    {
        var tokenizer = LoadWithLibrary(Model512);

        var tokens = tokenizer.EncodeToTokens("serving " + word, out _);

        Assert.Equal(SentencePieceBpeBuilder.WordBoundary + word, tokens[^1].Value);
    }

    [Fact]
    public void CharactersOutsideTheVocabularyFallBackToBytes()
    {
        var tokenizer = LoadWithLibrary(Model512);

        var ids = tokenizer.EncodeToIds("語"); // U+8A9E = E8 AA 9E in UTF-8

        // ids 3..258 are <0x00>..<0xFF>; the dummy-prefix space comes first as its own piece.
        Assert.Equal([3 + 0xE8, 3 + 0xAA, 3 + 0x9E], ids.Skip(ids.Count - 3));
    }

    [Fact]
    public void TheVocabularyHasExactlyTheRequestedSize()
    {
        var smallest = SentencePieceBpeBuilder.Build(SentencePieceBpeBuilder.MinimumVocabSize());
        var large = SentencePieceBpeBuilder.Build(5000); // past the ~720 pieces the corpus teaches: padded merges

        Assert.Equal(SentencePieceBpeBuilder.MinimumVocabSize(), smallest.Pieces.Count);
        Assert.Equal(5000, large.Pieces.Count);
        Assert.Equal(large.Pieces.Count, large.Pieces.Select(p => p.Piece).Distinct().Count());
        Assert.Throws<ArgumentOutOfRangeException>(() => SentencePieceBpeBuilder.Build(SentencePieceBpeBuilder.MinimumVocabSize() - 1));
        Assert.Equal(large.Pieces.Count, LoadWithLibrary(large).Vocabulary.Count);
    }

    [Fact]
    public void LargerVocabulariesExtendSmallerOnes()
    {
        var small = SentencePieceBpeBuilder.Build(2048);
        var large = SentencePieceBpeBuilder.Build(5000);
        int alphabet = SentencePieceBpeBuilder.MinimumVocabSize() - 259;

        // Same merges in the same order; only the single characters at the end move to make room.
        Assert.Equal(small.Pieces.Take(2048 - alphabet), large.Pieces.Take(2048 - alphabet));
        Assert.Equal(small.Pieces.TakeLast(alphabet).Select(p => p.Piece), large.Pieces.TakeLast(alphabet).Select(p => p.Piece));
    }

    [Fact]
    public void ATinyCorpusStopsPaddingWhenEveryPairIsUsed()
    {
        var spec = SentencePieceBpeBuilder.Build(100_000, "ab ab ba");
        var tokenizer = LoadWithLibrary(spec);

        Assert.InRange(spec.Pieces.Count, SentencePieceBpeBuilder.MinimumVocabSize("ab ab ba") + 1, 99_999);
        Assert.Equal("abba baab", tokenizer.Decode(tokenizer.EncodeToIds("abba baab")));
    }

    [Fact]
    public void ScoresDescendInMergeOrderAndBuildsAreRepeatable()
    {
        var merged = Model512.Pieces.Skip(259).ToList();

        Assert.All(Model512.Pieces.Skip(3).Take(256), p => Assert.Equal(SentencePieceType.Byte, p.Type));
        Assert.All(merged.Zip(merged.Skip(1)), pair => Assert.True(pair.First.Score > pair.Second.Score));
        Assert.Equal(SentencePieceModelWriter.Serialize(Model512), SentencePieceModelWriter.Serialize(SentencePieceBpeBuilder.Build(512)));
    }

    [Fact]
    public void RejectsDuplicatePiecesAndSpecialIdsOutsideTheVocabulary()
    {
        var duplicate = new SentencePieceModelSpec([new("<unk>", 0, SentencePieceType.Unknown), new("a", 0, SentencePieceType.Normal), new("a", -1, SentencePieceType.Normal)])
        { BosId = -1, EosId = -1 };
        var badEos = Model512 with { EosId = 512 };

        Assert.Throws<ArgumentException>(() => SentencePieceModelWriter.Serialize(duplicate));
        Assert.Throws<ArgumentException>(() => SentencePieceModelWriter.Serialize(badEos));
    }
}
