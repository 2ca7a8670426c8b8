using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LoRAQueue.Formats;

/// <summary>
/// A model directory's tokenizer, through Microsoft.ML.Tokenizers: a SentencePiece BPE <c>tokenizer.model</c>
/// (Llama, Mistral, TinyLlama) or a GPT-2 style byte-level BPE <c>vocab.json</c> + <c>merges.txt</c> (Qwen2, GPT-2).
/// Bos/eos come from tokenizer_config.json / special_tokens_map.json, else config.json's ids.
/// </summary>
public sealed partial class ModelTokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly HashSet<int> _knownIds;
    private readonly bool _modelAddsBos;
    private readonly SentencePieceDecoder? _sentencePieceDecoder;
    private readonly HashSet<int> _addedTokenIds; // tokenizer_config.json's added tokens: skipped, as special tokens

    private ModelTokenizer(Tokenizer tokenizer, IEnumerable<int> knownIds, int? bosId, int? eosId, bool modelAddsBos,
                           SentencePieceDecoder? sentencePieceDecoder = null)
    {
        _sentencePieceDecoder = sentencePieceDecoder;
        _addedTokenIds = [.. (tokenizer as SentencePieceTokenizer)?.SpecialTokens?.Values ?? []];
        _tokenizer = tokenizer;
        _knownIds = [.. knownIds];
        BosId = bosId;
        EosId = eosId;
        _modelAddsBos = modelAddsBos;
    }

    public int? BosId { get; }
    public int? EosId { get; }

    /// <summary>How many distinct ids the tokenizer knows; a model's vocab_size may be larger (padded).</summary>
    public int VocabCount => _knownIds.Count;

    /// <summary>The underlying Microsoft.ML.Tokenizers tokenizer.</summary>
    public Tokenizer Inner => _tokenizer;

    public static ModelTokenizer Load(string modelDirectory)
    {
        if (!Directory.Exists(modelDirectory))
            throw new DirectoryNotFoundException($"model directory '{modelDirectory}' does not exist");
        var settings = SpecialTokenSettings.Load(modelDirectory);

        string sentencePiecePath = Path.Combine(modelDirectory, "tokenizer.model");
        if (File.Exists(sentencePiecePath)) return LoadSentencePiece(sentencePiecePath, settings);

        string vocabPath = Path.Combine(modelDirectory, "vocab.json"), mergesPath = Path.Combine(modelDirectory, "merges.txt");
        if (File.Exists(vocabPath) && File.Exists(mergesPath)) return LoadByteLevelBpe(vocabPath, mergesPath, settings);

        throw new FileNotFoundException(
            $"no tokenizer in '{modelDirectory}': expected tokenizer.model (SentencePiece BPE) or vocab.json + merges.txt (byte-level BPE)");
    }

    /// <summary>
    /// Token ids of <paramref name="text"/>. With <paramref name="addBos"/> the bos token leads, unless the model
    /// has none or its tokenizer_config.json says add_bos_token: false.
    /// </summary>
    public IReadOnlyList<int> Encode(string text, bool addBos = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = _tokenizer.EncodeToIds(text);
        if (!addBos || !_modelAddsBos || BosId is not int bos) return ids;
        var withBos = new List<int>(ids.Count + 1) { bos };
        withBos.AddRange(ids);
        return withBos;
    }

    /// <summary>Text of <paramref name="ids"/>; special tokens and ids the tokenizer does not know are skipped. A SentencePiece
    /// model decodes exactly as SentencePiece does (<see cref="SentencePieceDecoder"/>).</summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (_sentencePieceDecoder is { } decoder)
            return decoder.Decode(ids.Where(id => _knownIds.Contains(id) && !_addedTokenIds.Contains(id)));
        var known = ids.Where(_knownIds.Contains);
        return _tokenizer switch
        {
            SentencePieceTokenizer sp => sp.Decode(known, considerSpecialTokens: false),
            BpeTokenizer bpe => bpe.Decode(known, considerSpecialTokens: false),
            _ => _tokenizer.Decode(known),
        };
    }

    public bool IsKnown(int id) => _knownIds.Contains(id);

    private static ModelTokenizer LoadSentencePiece(string path, SpecialTokenSettings settings)
    {
        SentencePieceTokenizer tokenizer;
        SentencePieceDecoder? decoder;
        try
        {
            byte[] model = File.ReadAllBytes(path);
            decoder = SentencePieceDecoder.Read(model);
            using var stream = new MemoryStream(model, writable: false);
            tokenizer = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false,
                                              specialTokens: settings.AddedTokens.Count > 0 ? settings.AddedTokens : null);
        }
        catch (Exception e) when (e is not (FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or OutOfMemoryException))
        {
            // The library reports a corrupt file as a protobuf IOException or an ArgumentException; name the file.
            throw new FormatException($"'{path}' is not a SentencePiece BPE model this tokenizer reads: {e.Message}", e);
        }
        var known = tokenizer.Vocabulary.Values.Concat(tokenizer.SpecialTokens?.Values ?? []).ToList();
        int? bos = Resolve(settings.BosToken, settings.BosTokenId, tokenizer.Vocabulary, tokenizer.SpecialTokens) ?? tokenizer.BeginningOfSentenceId;
        int? eos = Resolve(settings.EosToken, settings.EosTokenId, tokenizer.Vocabulary, tokenizer.SpecialTokens) ?? tokenizer.EndOfSentenceId;
        return new ModelTokenizer(tokenizer, known, bos, eos, settings.AddBosToken ?? true, decoder);
    }

    private static ModelTokenizer LoadByteLevelBpe(string vocabPath, string mergesPath, SpecialTokenSettings settings)
    {
        Dictionary<string, int> vocab;
        try
        {
            vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllBytes(vocabPath))
                    ?? throw new FormatException($"'{vocabPath}' holds no vocabulary");
        }
        catch (JsonException e)
        {
            throw new FormatException($"'{vocabPath}' is not a JSON object of token → id: {e.Message}", e);
        }
        var merges = File.ReadLines(mergesPath).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToList();

        // Added tokens (from tokenizer_config.json) and the bos/eos strings stay whole when they appear in text.
        var specials = new Dictionary<string, int>(settings.AddedTokens, StringComparer.Ordinal);
        foreach (var token in new[] { settings.BosToken, settings.EosToken })
            if (token is not null && !specials.ContainsKey(token) && vocab.TryGetValue(token, out int id))
                specials[token] = id;

        BpeTokenizer tokenizer;
        try
        {
            tokenizer = BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges,
                ByteLevel = true,
                SpecialTokens = specials,
                PreTokenizer = new RegexPreTokenizer(Gpt2PreTokenizer(), specials),
            });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new FormatException($"'{vocabPath}' + '{mergesPath}' do not form a byte-level BPE tokenizer: {e.Message}", e);
        }
        var known = vocab.Values.Concat(specials.Values).ToList();
        int? bos = Resolve(settings.BosToken, settings.BosTokenId, vocab, specials);
        int? eos = Resolve(settings.EosToken, settings.EosTokenId, vocab, specials);
        return new ModelTokenizer(tokenizer, known, bos, eos, settings.AddBosToken ?? true);
    }

    /// <summary>The token string's id where the tokenizer knows it, else the id config.json names.</summary>
    private static int? Resolve(string? token, int? configId, IReadOnlyDictionary<string, int> vocab, IReadOnlyDictionary<string, int>? specials)
    {
        if (token is not null)
        {
            if (specials is not null && specials.TryGetValue(token, out int special)) return special;
            if (vocab.TryGetValue(token, out int id)) return id;
        }
        return configId;
    }

    // GPT-2's pre-tokenization pattern: contractions, letters, digits, other symbols, whitespace runs.
    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")]
    private static partial Regex Gpt2PreTokenizer();
}
