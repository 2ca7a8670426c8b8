using System.Text.Json;

namespace LoRAQueue.Formats;

/// <summary>The fields of a PEFT <c>adapter_config.json</c> that matter for LoRA inference.</summary>
public sealed record AdapterConfig
{
    public string PeftType { get; init; } = "LORA";
    public int R { get; init; } = 8;
    public double LoraAlpha { get; init; } = 8;

    /// <summary>target_modules given as a list (names or dotted suffixes); "all-linear" becomes the seven linear modules.</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = [];

    /// <summary>target_modules given as one string: a regex that must match a module's full name.</summary>
    public string? TargetModulesRegex { get; init; }

    /// <summary>Pattern → rank; iterated in file order (first match wins, as in PEFT).</summary>
    public IReadOnlyDictionary<string, int> RankPattern { get; init; } = new Dictionary<string, int>();

    /// <summary>Pattern → alpha; iterated in file order (first match wins, as in PEFT).</summary>
    public IReadOnlyDictionary<string, double> AlphaPattern { get; init; } = new Dictionary<string, double>();

    public bool UseRslora { get; init; }
    public bool FanInFanOut { get; init; }
    public string? BaseModelNameOrPath { get; init; }

    public static AdapterConfig Parse(string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException e)
        {
            throw new AdapterFormatException($"adapter config is not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new AdapterFormatException("adapter config is not a JSON object");
            return Read(document.RootElement);
        }
    }

    private static AdapterConfig Read(JsonElement root)
    {
        string peftType = String(root, "peft_type") ?? "LORA";
        if (peftType != "LORA")
            throw new AdapterFormatException($"unsupported peft_type '{peftType}' (only LORA)");
        if (Bool(root, "use_dora") == true)
            throw new AdapterFormatException("DoRA adapters (use_dora=true) are not supported");
        if (Bool(root, "lora_bias") == true)
            throw new AdapterFormatException("lora_bias=true is not supported (lora_B without bias only)");
        string bias = String(root, "bias") ?? "none";
        if (bias != "none")
            throw new AdapterFormatException($"bias '{bias}' is not supported (only 'none')");
        if (Get(root, "modules_to_save") is { ValueKind: JsonValueKind.Array } saved && saved.GetArrayLength() > 0)
            throw new AdapterFormatException("modules_to_save is not supported: the adapter replaces whole modules");

        var (targets, targetRegex) = ReadTargetModules(root);
        var config = new AdapterConfig
        {
            PeftType = peftType,
            R = Int(root, "r") ?? 8,
            LoraAlpha = Number(root, "lora_alpha") ?? 8,
            TargetModules = targets,
            TargetModulesRegex = targetRegex,
            RankPattern = Pattern(root, "rank_pattern", v => AsInt(v, "rank_pattern")),
            AlphaPattern = Pattern(root, "alpha_pattern", v => AsNumber(v, "alpha_pattern")),
            UseRslora = Bool(root, "use_rslora") ?? false,
            FanInFanOut = Bool(root, "fan_in_fan_out") ?? false,
            BaseModelNameOrPath = String(root, "base_model_name_or_path"),
        };
        if (config.R <= 0) throw new AdapterFormatException($"r must be positive, got {config.R}");
        foreach (var (key, rank) in config.RankPattern)
            if (rank <= 0) throw new AdapterFormatException($"rank_pattern '{key}' gives the non-positive rank {rank}");
        return config;
    }

    private static (IReadOnlyList<string>, string?) ReadTargetModules(JsonElement root)
    {
        if (Get(root, "target_modules") is not { } value)
            return ([], null);
        if (value.ValueKind == JsonValueKind.String)
        {
            string text = value.GetString()!;
            return text == "all-linear" ? (ModelConfig.LinearModules, null) : ([], text);
        }
        if (value.ValueKind != JsonValueKind.Array)
            throw new AdapterFormatException("target_modules must be a list of names or a regex string");
        var names = new List<string>();
        foreach (var item in value.EnumerateArray())
            names.Add(item.ValueKind == JsonValueKind.String
                ? item.GetString()!
                : throw new AdapterFormatException("target_modules must hold only strings"));
        return (names, null);
    }

    private static Dictionary<string, T> Pattern<T>(JsonElement root, string name, Func<JsonElement, T> read)
    {
        var result = new Dictionary<string, T>(StringComparer.Ordinal);
        if (Get(root, name) is not { } value) return result;
        if (value.ValueKind != JsonValueKind.Object)
            throw new AdapterFormatException($"{name} must be an object mapping module patterns to values");
        foreach (var entry in value.EnumerateObject())
            if (!result.TryAdd(entry.Name, read(entry.Value)))
                throw new AdapterFormatException($"{name} has the key '{entry.Name}' twice");
        return result;
    }

    private static int? Int(JsonElement root, string name) => Get(root, name) is { } v ? AsInt(v, name) : null;

    private static int AsInt(JsonElement value, string name) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int result)
            ? result
            : throw new AdapterFormatException($"{name} must hold integers, got {value.GetRawText()}");

    private static double? Number(JsonElement root, string name) => Get(root, name) is { } v ? AsNumber(v, name) : null;

    private static double AsNumber(JsonElement value, string name) =>
        value.ValueKind == JsonValueKind.Number
            ? value.GetDouble()
            : throw new AdapterFormatException($"{name} must hold numbers, got {value.GetRawText()}");

    private static bool? Bool(JsonElement root, string name) => Get(root, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        { } v => throw new AdapterFormatException($"{name} must be true or false, got {v.GetRawText()}"),
    };

    private static string? String(JsonElement root, string name) => Get(root, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } v => v.GetString(),
        { } v => throw new AdapterFormatException($"{name} must be a string, got {v.GetRawText()}"),
    };

    private static JsonElement? Get(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;
}
