using System.Text.Json;

namespace LoRAQueue.Formats;

/// <summary>The JSON side files of a Hugging Face Llama model directory, as transformers writes them.</summary>
internal static class HfModelFiles
{
    public static void WriteJson(string path, Action<Utf8JsonWriter> body)
    {
        using var stream = File.Create(path);
        using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        writer.WriteStartObject();
        body(writer);
        writer.WriteEndObject();
    }

    public static string TorchDtype(DType dtype) => dtype switch
    {
        DType.F32 => "float32",
        DType.F16 => "float16",
        DType.BF16 => "bfloat16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    public static void WriteConfig(string directory, ModelPreset preset, int bosId, int eosId) =>
        WriteJson(Path.Combine(directory, "config.json"), w =>
        {
            w.WriteStartArray("architectures");
            w.WriteStringValue("LlamaForCausalLM");
            w.WriteEndArray();
            w.WriteString("model_type", "llama");
            w.WriteNumber("vocab_size", preset.VocabSize);
            w.WriteNumber("hidden_size", preset.HiddenSize);
            w.WriteNumber("intermediate_size", preset.IntermediateSize);
            w.WriteNumber("num_hidden_layers", preset.NumHiddenLayers);
            w.WriteNumber("num_attention_heads", preset.NumAttentionHeads);
            w.WriteNumber("num_key_value_heads", preset.NumKeyValueHeads);
            w.WriteNumber("head_dim", preset.HeadDim);
            w.WriteNumber("max_position_embeddings", preset.MaxPositionEmbeddings);
            w.WriteNumber("rope_theta", preset.RopeTheta);
            w.WriteNull("rope_scaling");
            w.WriteNumber("rms_norm_eps", preset.RmsNormEps);
            w.WriteString("hidden_act", "silu");
            w.WriteBoolean("attention_bias", false);
            w.WriteBoolean("mlp_bias", false);
            w.WriteNumber("attention_dropout", 0.0);
            w.WriteBoolean("tie_word_embeddings", preset.TieWordEmbeddings);
            w.WriteNumber("initializer_range", SyntheticModel.InitializerRange);
            w.WriteNumber("bos_token_id", bosId);
            w.WriteNumber("eos_token_id", eosId);
            w.WriteString("torch_dtype", TorchDtype(preset.DType));
            w.WriteBoolean("use_cache", true);
        });

    public static void WriteGenerationConfig(string directory, int bosId, int eosId) =>
        WriteJson(Path.Combine(directory, "generation_config.json"), w =>
        {
            w.WriteBoolean("_from_model_config", true);
            w.WriteNumber("bos_token_id", bosId);
            w.WriteNumber("eos_token_id", eosId);
        });

    public static void WriteTokenizerFiles(string directory, SentencePieceModelSpec tokenizer, int maxLength)
    {
        SentencePieceModelWriter.Write(Path.Combine(directory, "tokenizer.model"), tokenizer);
        string unk = tokenizer.Pieces[tokenizer.UnkId].Piece, bos = tokenizer.Pieces[tokenizer.BosId].Piece, eos = tokenizer.Pieces[tokenizer.EosId].Piece;
        WriteJson(Path.Combine(directory, "tokenizer_config.json"), w =>
        {
            w.WriteString("tokenizer_class", "LlamaTokenizer");
            w.WriteBoolean("add_bos_token", true);
            w.WriteBoolean("add_eos_token", false);
            w.WriteString("bos_token", bos);
            w.WriteString("eos_token", eos);
            w.WriteString("unk_token", unk);
            w.WriteNull("pad_token");
            w.WriteNumber("model_max_length", maxLength);
            w.WriteBoolean("legacy", false);
            w.WriteBoolean("clean_up_tokenization_spaces", false);
            w.WriteStartObject("added_tokens_decoder");
            foreach (int id in new[] { tokenizer.UnkId, tokenizer.BosId, tokenizer.EosId })
            {
                w.WriteStartObject(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteString("content", tokenizer.Pieces[id].Piece);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        });
        WriteJson(Path.Combine(directory, "special_tokens_map.json"), w =>
        {
            w.WriteString("bos_token", bos);
            w.WriteString("eos_token", eos);
            w.WriteString("unk_token", unk);
        });
    }
}
