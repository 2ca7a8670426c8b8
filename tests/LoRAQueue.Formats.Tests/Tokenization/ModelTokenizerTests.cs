using System.Text.Json;
using LoRAQueue.Formats.Tests.Synthetic;

namespace LoRAQueue.Formats.Tests.Tokenization;

public class ModelTokenizerTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string SentencePieceDirectory(object? tokenizerConfig = null, object? modelConfig = null)
    {
        SentencePieceModelWriter.Write(_dir.Combine("tokenizer.model"), SentencePieceBpeBuilder.Build(400));
        if (tokenizerConfig is not null) File.WriteAllText(_dir.Combine("tokenizer_config.json"), JsonSerializer.Serialize(tokenizerConfig));
        if (modelConfig is not null) File.WriteAllText(_dir.Combine("config.json"), JsonSerializer.Serialize(modelConfig));
        return _dir.Path;
    }

    [Fact]
    public void SentencePieceEncodeLeadsWithBosAndDecodesBack()
    {
        var tokenizer = ModelTokenizer.Load(SentencePieceDirectory(new { bos_token = "<s>", eos_token = new { content = "</s>" } }));
        const string text = "Continuous batching keeps the hardware busy. ✓";

        var ids = tokenizer.Encode(text);

        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal(2, tokenizer.EosId);
        Assert.Equal(400, tokenizer.VocabCount);
        Assert.Equal(1, ids[0]);
        Assert.Equal(ids.Skip(1), tokenizer.Encode(text, addBos: false));
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void DecodeSkipsIdsTheTokenizerDoesNotKnowAndSpecialTokens()
    {
        var tokenizer = ModelTokenizer.Load(SentencePieceDirectory());
        var ids = tokenizer.Encode("the model", addBos: false);

        // A random model with a padded vocabulary emits ids past the tokenizer's pieces.
        var noisy = new List<int> { 1, 450, -3 };
        noisy.AddRange(ids);
        noisy.AddRange([2, 5000, int.MaxValue]);

        Assert.Equal("the model", tokenizer.Decode(noisy));
        Assert.False(tokenizer.IsKnown(450));
        Assert.True(tokenizer.IsKnown(399));
    }

    [Fact]
    public void IdsComeFromConfigJsonWhenTheTokenizerConfigIsMissing()
    {
        // The tokenizer's own pieces say bos=1/eos=2; config.json names other ids, and an eos list.
        var tokenizer = ModelTokenizer.Load(SentencePieceDirectory(modelConfig: new { bos_token_id = 7, eos_token_id = new[] { 9, 2 } }));

        Assert.Equal(7, tokenizer.BosId);
        Assert.Equal(9, tokenizer.EosId);
        Assert.Equal(7, tokenizer.Encode("hi")[0]);
    }

    [Fact]
    public void AddBosTokenFalseInTheTokenizerConfigIsHonoured()
    {
        var tokenizer = ModelTokenizer.Load(SentencePieceDirectory(new { add_bos_token = false, bos_token = "<s>" }));

        Assert.Equal(1, tokenizer.BosId);
        Assert.NotEqual(1, tokenizer.Encode("hello")[0]);
    }

    [Fact]
    public void AddedTokensFromTheTokenizerConfigStayWhole()
    {
        var config = new Dictionary<string, object>
        {
            ["added_tokens_decoder"] = new Dictionary<string, object> { ["400"] = new { content = "<|im_start|>", special = true } },
        };
        var tokenizer = ModelTokenizer.Load(SentencePieceDirectory(config));

        var ids = tokenizer.Encode("<|im_start|>user", addBos: false);

        Assert.Contains(400, ids);
        Assert.Equal(401, tokenizer.VocabCount);
        Assert.Equal("user", tokenizer.Decode(ids).Trim());
    }

    [Fact]
    public void ByteLevelBpeFromVocabAndMergesRoundTrips()
    {
        var vocab = Gpt2BpeFiles.Write(_dir.Path, merges: 400);
        int endOfText = vocab[Gpt2BpeFiles.EndOfText];
        File.WriteAllText(_dir.Combine("tokenizer_config.json"),
                          JsonSerializer.Serialize(new { bos_token = (string?)null, eos_token = Gpt2BpeFiles.EndOfText, add_bos_token = false }));
        var tokenizer = ModelTokenizer.Load(_dir.Path);
        const string text = "The scheduler moves adapters between workers.\n  Ünïcödé 🤖 too";

        var ids = tokenizer.Encode(text);

        Assert.Null(tokenizer.BosId);
        Assert.Equal(endOfText, tokenizer.EosId);
        Assert.Equal(vocab.Count, tokenizer.VocabCount);
        var words = tokenizer.Inner.EncodeToTokens("serving the model and the request", out _);
        Assert.Equal(["Ġthe", "Ġmodel", "Ġand", "Ġthe", "Ġrequest"], words.Skip(words.Count - 5).Select(t => t.Value));
        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.Equal([endOfText], tokenizer.Encode(Gpt2BpeFiles.EndOfText));
        Assert.Equal(text, tokenizer.Decode([.. ids, endOfText, vocab.Count + 10]));
    }

    [Fact]
    public void MissingOrBrokenTokenizerFilesGiveClearErrors()
    {
        var missing = Assert.Throws<FileNotFoundException>(() => ModelTokenizer.Load(_dir.Path));
        Assert.Contains("tokenizer.model", missing.Message);

        File.WriteAllBytes(_dir.Combine("tokenizer.model"), [0x0A, 0xFF, 0x01, 0x02]);
        var broken = Assert.Throws<FormatException>(() => ModelTokenizer.Load(_dir.Path));
        Assert.Contains("tokenizer.model", broken.Message);

        Assert.Throws<DirectoryNotFoundException>(() => ModelTokenizer.Load(_dir.Combine("nope")));
    }
}
