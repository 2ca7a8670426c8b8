using System.Text;
using System.Text.Json;

namespace LoRAQueue.Formats;

/// <summary>A Hugging Face <c>config.json</c> of a Llama-family model (llama, mistral, qwen2).</summary>
public sealed record ModelConfig
{
    public static IReadOnlyList<string> LinearModules { get; } =
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    public static IReadOnlyList<string> SupportedModelTypes { get; } = ["llama", "mistral", "qwen2"];

    private readonly int _numKeyValueHeads;
    private readonly int _headDim;

    public string ModelType { get; init; } = "llama";
    public int VocabSize { get; init; }
    public int HiddenSize { get; init; }
    public int IntermediateSize { get; init; }
    public int NumHiddenLayers { get; init; }
    public int NumAttentionHeads { get; init; }

    /// <summary>Defaults to <see cref="NumAttentionHeads"/> (no GQA) when not set.</summary>
    public int NumKeyValueHeads
    {
        get => _numKeyValueHeads > 0 ? _numKeyValueHeads : NumAttentionHeads;
        init => _numKeyValueHeads = value;
    }

    /// <summary>Defaults to HiddenSize / NumAttentionHeads when not set.</summary>
    public int HeadDim
    {
        get => _headDim > 0 ? _headDim : NumAttentionHeads > 0 ? HiddenSize / NumAttentionHeads : 0;
        init => _headDim = value;
    }

    public int MaxPositionEmbeddings { get; init; } = 2048;
    public double RopeTheta { get; init; } = 10000;
    public double RmsNormEps { get; init; } = 1e-6;
    public bool TieWordEmbeddings { get; init; }

    /// <summary>q/k/v projections carry a bias (always for qwen2; llama's <c>attention_bias</c>).</summary>
    public bool AttentionBias { get; init; }

    /// <summary>o_proj carries a bias too: llama's <c>attention_bias</c> covers all four projections, qwen2's only q/k/v.</summary>
    public bool AttentionOutputBias => AttentionBias && ModelType == "llama";

    public int? BosTokenId { get; init; }
    public int[] EosTokenIds { get; init; } = [];
    public string TorchDtype { get; init; } = "float32";
    public int? SlidingWindow { get; init; }
    public string HiddenAct { get; init; } = "silu";

    /// <summary><c>rope_scaling.rope_type</c> when the config asks for RoPE scaling; null for plain RoPE.</summary>
    public string? RopeScalingType { get; init; }

    public int QueryDim => NumAttentionHeads * HeadDim;
    public int KeyValueDim => NumKeyValueHeads * HeadDim;

    /// <summary>[out, in] of one of the seven linear modules of a decoder layer.</summary>
    public (int Out, int In) ModuleShape(string module) => module switch
    {
        "q_proj" => (QueryDim, HiddenSize),
        "k_proj" or "v_proj" => (KeyValueDim, HiddenSize),
        "o_proj" => (HiddenSize, QueryDim),
        "gate_proj" or "up_proj" => (IntermediateSize, HiddenSize),
        "down_proj" => (HiddenSize, IntermediateSize),
        _ => throw new ArgumentException(
            $"unknown linear module '{module}' (known: {string.Join(", ", LinearModules)})", nameof(module)),
    };

    /// <summary>Loads <c>config.json</c> from a file path or from a model directory.</summary>
    public static ModelConfig Load(string pathOrDirectory)
    {
        string path = Directory.Exists(pathOrDirectory) ? Path.Combine(pathOrDirectory, "config.json") : pathOrDirectory;
        if (!File.Exists(path))
            throw new FileNotFoundException($"model config '{path}' does not exist", path);
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (FormatException e)
        {
            throw new FormatException($"model config '{path}': {e.Message}", e);
        }
    }

    public static ModelConfig Parse(string json) => ModelConfigParser.Parse(json);

    /// <summary>Throws <see cref="FormatException"/> when the numbers cannot describe a working model.</summary>
    public void Validate()
    {
        if (!SupportedModelTypes.Contains(ModelType))
            throw new FormatException($"unsupported model_type '{ModelType}' (supported: {string.Join(", ", SupportedModelTypes)})");
        RequirePositive(VocabSize, "vocab_size");
        RequirePositive(HiddenSize, "hidden_size");
        RequirePositive(IntermediateSize, "intermediate_size");
        RequirePositive(NumHiddenLayers, "num_hidden_layers");
        RequirePositive(NumAttentionHeads, "num_attention_heads");
        RequirePositive(MaxPositionEmbeddings, "max_position_embeddings");
        if (_numKeyValueHeads < 0) throw new FormatException($"num_key_value_heads must be positive, got {_numKeyValueHeads}");
        if (_headDim < 0) throw new FormatException($"head_dim must be positive, got {_headDim}");
        if (_headDim <= 0 && HiddenSize % NumAttentionHeads != 0)
            throw new FormatException(
                $"hidden_size ({HiddenSize}) is not divisible by num_attention_heads ({NumAttentionHeads}) and no head_dim is given");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new FormatException(
                $"num_attention_heads ({NumAttentionHeads}) is not a multiple of num_key_value_heads ({NumKeyValueHeads})");
        if (HeadDim % 2 != 0)
            throw new FormatException($"head_dim ({HeadDim}) must be even for rotary embeddings");
        if (!(RopeTheta > 0)) throw new FormatException($"rope_theta ({RopeTheta}) must be positive");
        if (!(RmsNormEps > 0)) throw new FormatException($"rms_norm_eps ({RmsNormEps}) must be positive");
        if (SlidingWindow is <= 0) throw new FormatException($"sliding_window ({SlidingWindow}) must be positive");
        if (HiddenAct != "silu") throw new FormatException($"unsupported hidden_act '{HiddenAct}' (only silu)");
        if (BosTokenId is < 0) throw new FormatException($"bos_token_id ({BosTokenId}) is negative");
        foreach (int eos in EosTokenIds)
            if (eos < 0) throw new FormatException($"eos_token_id ({eos}) is negative");
    }

    private static void RequirePositive(int value, string field)
    {
        if (value <= 0) throw new FormatException($"{field} must be a positive integer, got {value}");
    }

    /// <summary>Hugging Face style config.json text; <see cref="Parse"/> reads it back to the same settings.</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("architectures");
            json.WriteStringValue(ModelType switch { "mistral" => "MistralForCausalLM", "qwen2" => "Qwen2ForCausalLM", _ => "LlamaForCausalLM" });
            json.WriteEndArray();
            json.WriteString("model_type", ModelType);
            json.WriteNumber("vocab_size", VocabSize);
            json.WriteNumber("hidden_size", HiddenSize);
            json.WriteNumber("intermediate_size", IntermediateSize);
            json.WriteNumber("num_hidden_layers", NumHiddenLayers);
            json.WriteNumber("num_attention_heads", NumAttentionHeads);
            json.WriteNumber("num_key_value_heads", NumKeyValueHeads);
            json.WriteNumber("head_dim", HeadDim);
            json.WriteNumber("max_position_embeddings", MaxPositionEmbeddings);
            json.WriteNumber("rope_theta", RopeTheta);
            json.WriteNumber("rms_norm_eps", RmsNormEps);
            json.WriteBoolean("tie_word_embeddings", TieWordEmbeddings);
            if (ModelType == "llama") json.WriteBoolean("attention_bias", AttentionBias);
            json.WriteString("hidden_act", HiddenAct);
            if (BosTokenId is int bos) json.WriteNumber("bos_token_id", bos);
            else json.WriteNull("bos_token_id");
            WriteEos(json);
            json.WriteString("torch_dtype", TorchDtype);
            if (ModelType == "qwen2") json.WriteBoolean("use_sliding_window", SlidingWindow is not null);
            if (SlidingWindow is int window) json.WriteNumber("sliding_window", window);
            else json.WriteNull("sliding_window");
            if (RopeScalingType is not null)
            {
                json.WriteStartObject("rope_scaling");
                json.WriteString("rope_type", RopeScalingType);
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private void WriteEos(Utf8JsonWriter json)
    {
        if (EosTokenIds.Length == 0) { json.WriteNull("eos_token_id"); return; }
        if (EosTokenIds.Length == 1) { json.WriteNumber("eos_token_id", EosTokenIds[0]); return; }
        json.WriteStartArray("eos_token_id");
        foreach (int id in EosTokenIds) json.WriteNumberValue(id);
        json.WriteEndArray();
    }
}
