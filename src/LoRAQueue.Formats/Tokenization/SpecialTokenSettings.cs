using System.Text.Json;

namespace LoRAQueue.Formats;

/// <summary>
/// The bos/eos settings a Hugging Face model directory spreads over tokenizer_config.json,
/// special_tokens_map.json, config.json and generation_config.json.
/// </summary>
internal sealed record SpecialTokenSettings(
    string? BosToken, string? EosToken, int? BosTokenId, int? EosTokenId, bool? AddBosToken,
    IReadOnlyDictionary<string, int> AddedTokens)
{
    private static readonly JsonDocumentOptions Lenient = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };

    public static SpecialTokenSettings Load(string directory)
    {
        using var tokenizerConfig = ReadJson(directory, "tokenizer_config.json");
        using var specialTokensMap = ReadJson(directory, "special_tokens_map.json");
        using var modelConfig = ReadJson(directory, "config.json");
        using var generationConfig = ReadJson(directory, "generation_config.json");

        var tokenizerRoot = tokenizerConfig?.RootElement;
        var mapRoot = specialTokensMap?.RootElement;
        return new SpecialTokenSettings(
            BosToken: TokenText(tokenizerRoot, "bos_token") ?? TokenText(mapRoot, "bos_token"),
            EosToken: TokenText(tokenizerRoot, "eos_token") ?? TokenText(mapRoot, "eos_token"),
            BosTokenId: FirstId(modelConfig?.RootElement, "bos_token_id") ?? FirstId(generationConfig?.RootElement, "bos_token_id"),
            EosTokenId: FirstId(modelConfig?.RootElement, "eos_token_id") ?? FirstId(generationConfig?.RootElement, "eos_token_id"),
            AddBosToken: tokenizerRoot is { ValueKind: JsonValueKind.Object } t && t.TryGetProperty("add_bos_token", out var add)
                         && add.ValueKind is JsonValueKind.True or JsonValueKind.False ? add.GetBoolean() : null,
            AddedTokens: AddedTokensOf(tokenizerRoot));
    }

    private static JsonDocument? ReadJson(string directory, string fileName)
    {
        string path = Path.Combine(directory, fileName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path), Lenient);
        }
        catch (JsonException e)
        {
            throw new FormatException($"'{path}' is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>A token given either as a string or as an AddedToken object {"content": ...}.</summary>
    private static string? TokenText(JsonElement? root, string property)
    {
        if (root is not { ValueKind: JsonValueKind.Object } r || !r.TryGetProperty(property, out var value)) return null;
        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object when value.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => null,
        };
    }

    /// <summary>An id given as an integer or as a list of integers (eos_token_id often is); the first one counts.</summary>
    private static int? FirstId(JsonElement? root, string property)
    {
        if (root is not { ValueKind: JsonValueKind.Object } r || !r.TryGetProperty(property, out var value)) return null;
        if (value.ValueKind == JsonValueKind.Array)
            value = value.EnumerateArray().FirstOrDefault();
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int id) && id >= 0 ? id : null;
    }

    /// <summary>tokenizer_config.json's added_tokens_decoder: {"32000": {"content": "&lt;|im_start|&gt;", ...}}.</summary>
    private static Dictionary<string, int> AddedTokensOf(JsonElement? root)
    {
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root is not { ValueKind: JsonValueKind.Object } r || !r.TryGetProperty("added_tokens_decoder", out var decoder)
            || decoder.ValueKind != JsonValueKind.Object)
            return added;
        foreach (var entry in decoder.EnumerateObject())
        {
            if (int.TryParse(entry.Name, out int id) && id >= 0
                && entry.Value.ValueKind == JsonValueKind.Object
                && entry.Value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String
                && content.GetString() is { Length: > 0 } text)
                added[text] = id;
        }
        return added;
    }
}
