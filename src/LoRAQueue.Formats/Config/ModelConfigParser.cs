using System.Text.Json;

namespace LoRAQueue.Formats;

/// <summary>Reads config.json fields with the defaults of the Hugging Face config classes.</summary>
internal static class ModelConfigParser
{
    public static ModelConfig Parse(string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException e)
        {
            throw new FormatException($"config is not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new FormatException("config is not a JSON object");
            return Read(root);
        }
    }

    private static ModelConfig Read(JsonElement root)
    {
        string modelType = String(root, "model_type")
            ?? throw new FormatException("missing required field 'model_type'");
        if (!ModelConfig.SupportedModelTypes.Contains(modelType))
            throw new FormatException(
                $"unsupported model_type '{modelType}' (supported: {string.Join(", ", ModelConfig.SupportedModelTypes)})");

        int heads = RequiredInt(root, "num_attention_heads");
        int hidden = RequiredInt(root, "hidden_size");
        int? headDim = Int(root, "head_dim");
        if (headDim is null && heads > 0 && hidden % heads != 0)
            throw new FormatException(
                $"hidden_size ({hidden}) is not divisible by num_attention_heads ({heads}) and no head_dim is given");
        if (Bool(root, "mlp_bias") == true)
            throw new FormatException("mlp_bias=true is not supported (MLP projections without bias only)");

        var config = new ModelConfig
        {
            ModelType = modelType,
            VocabSize = RequiredInt(root, "vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = RequiredInt(root, "intermediate_size"),
            NumHiddenLayers = RequiredInt(root, "num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = Int(root, "num_key_value_heads") ?? heads,
            HeadDim = headDim ?? (heads > 0 ? hidden / heads : 0),
            MaxPositionEmbeddings = Int(root, "max_position_embeddings") ?? DefaultMaxPositions(modelType),
            RopeTheta = Double(root, "rope_theta") ?? 10000.0,
            RmsNormEps = Double(root, "rms_norm_eps") ?? 1e-6,
            TieWordEmbeddings = Bool(root, "tie_word_embeddings") ?? false,
            AttentionBias = modelType == "qwen2" || (modelType == "llama" && (Bool(root, "attention_bias") ?? false)),
            HiddenAct = String(root, "hidden_act") ?? "silu",
            BosTokenId = Int(root, "bos_token_id"),
            EosTokenIds = EosIds(root),
            TorchDtype = String(root, "torch_dtype") ?? String(root, "dtype") ?? "float32",
            SlidingWindow = SlidingWindow(root, modelType),
            RopeScalingType = RopeScaling(root),
        };
        config.Validate();
        return config;
    }

    private static int DefaultMaxPositions(string modelType) => modelType switch
    {
        "mistral" => 4096 * 32,
        "qwen2" => 32768,
        _ => 2048,
    };

    /// <summary>Mistral uses its window (HF default 4096); qwen2 only when use_sliding_window; llama never.</summary>
    private static int? SlidingWindow(JsonElement root, string modelType) => modelType switch
    {
        "mistral" => root.TryGetProperty("sliding_window", out _) ? Int(root, "sliding_window") : 4096,
        "qwen2" => Bool(root, "use_sliding_window") == true ? Int(root, "sliding_window") ?? 4096 : null,
        _ => null,
    };

    private static string? RopeScaling(JsonElement root)
    {
        if (!root.TryGetProperty("rope_scaling", out var scaling) || scaling.ValueKind == JsonValueKind.Null)
            return null;
        if (scaling.ValueKind != JsonValueKind.Object)
            throw new FormatException("field 'rope_scaling' must be an object or null");
        return String(scaling, "rope_type") ?? String(scaling, "type")
            ?? throw new FormatException("field 'rope_scaling' has no 'rope_type'");
    }

    private static int[] EosIds(JsonElement root)
    {
        if (!root.TryGetProperty("eos_token_id", out var value) || value.ValueKind == JsonValueKind.Null)
            return [];
        if (value.ValueKind == JsonValueKind.Number)
            return [AsInt(value, "eos_token_id")];
        if (value.ValueKind != JsonValueKind.Array)
            throw new FormatException($"field 'eos_token_id' must be an integer or a list of integers, got {value.ValueKind}");
        var ids = new int[value.GetArrayLength()];
        int i = 0;
        foreach (var item in value.EnumerateArray())
            ids[i++] = AsInt(item, "eos_token_id");
        return ids;
    }

    private static int RequiredInt(JsonElement root, string name) =>
        Int(root, name) ?? throw new FormatException($"missing required field '{name}'");

    private static int? Int(JsonElement root, string name) =>
        Get(root, name) is { } value ? AsInt(value, name) : null;

    private static int AsInt(JsonElement value, string name) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int result)
            ? result
            : throw new FormatException($"field '{name}' must be a 32-bit integer, got {Describe(value)}");

    private static double? Double(JsonElement root, string name)
    {
        if (Get(root, name) is not { } value) return null;
        return value.ValueKind == JsonValueKind.Number
            ? value.GetDouble()
            : throw new FormatException($"field '{name}' must be a number, got {Describe(value)}");
    }

    private static bool? Bool(JsonElement root, string name)
    {
        if (Get(root, name) is not { } value) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new FormatException($"field '{name}' must be true or false, got {Describe(value)}"),
        };
    }

    private static string? String(JsonElement root, string name)
    {
        if (Get(root, name) is not { } value) return null;
        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new FormatException($"field '{name}' must be a string, got {Describe(value)}");
    }

    /// <summary>The field's value; absent and null both count as "not given", as in the HF config classes.</summary>
    private static JsonElement? Get(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static string Describe(JsonElement value) =>
        value.ValueKind is JsonValueKind.Object or JsonValueKind.Array ? value.ValueKind.ToString() : value.GetRawText();
}
