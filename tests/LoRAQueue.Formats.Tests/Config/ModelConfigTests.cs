using System.Text.Json.Nodes;

namespace LoRAQueue.Formats.Tests.Config;

public sealed class ModelConfigTests
{
    private static string Edit(string json, Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(json)!.AsObject();
        edit(node);
        return node.ToJsonString();
    }

    private static string Invalid(string json) => Assert.ThrowsAny<FormatException>(() => ModelConfig.Parse(json)).Message;

    [Fact]
    public void TinyLlama_config_with_grouped_query_attention()
    {
        var config = ModelConfig.Parse(ConfigSamples.TinyLlama);
        Assert.Equal("llama", config.ModelType);
        Assert.Equal(32000, config.VocabSize);
        Assert.Equal(2048, config.HiddenSize);
        Assert.Equal(5632, config.IntermediateSize);
        Assert.Equal(22, config.NumHiddenLayers);
        Assert.Equal(32, config.NumAttentionHeads);
        Assert.Equal(4, config.NumKeyValueHeads);
        Assert.Equal(64, config.HeadDim);
        Assert.Equal(2048, config.MaxPositionEmbeddings);
        Assert.Equal(1e-5, config.RmsNormEps);
        Assert.Equal(10000.0, config.RopeTheta);
        Assert.False(config.TieWordEmbeddings);
        Assert.False(config.AttentionBias);
        Assert.Equal(1, config.BosTokenId);
        Assert.Equal([2], config.EosTokenIds);
        Assert.Equal("bfloat16", config.TorchDtype);
        Assert.Null(config.SlidingWindow);
        Assert.Null(config.RopeScalingType);
        Assert.Equal((2048, 2048), config.ModuleShape("q_proj"));
        Assert.Equal((256, 2048), config.ModuleShape("k_proj"));
        Assert.Equal((256, 2048), config.ModuleShape("v_proj"));
        Assert.Equal((2048, 2048), config.ModuleShape("o_proj"));
        Assert.Equal((5632, 2048), config.ModuleShape("gate_proj"));
        Assert.Equal((5632, 2048), config.ModuleShape("up_proj"));
        Assert.Equal((2048, 5632), config.ModuleShape("down_proj"));
        Assert.Throws<ArgumentException>(() => config.ModuleShape("lm_head"));
    }

    [Fact]
    public void Mistral_config_keeps_its_sliding_window()
    {
        var config = ModelConfig.Parse(ConfigSamples.Mistral7B);
        Assert.Equal("mistral", config.ModelType);
        Assert.Equal(4096, config.SlidingWindow);
        Assert.Equal(128, config.HeadDim);
        Assert.Equal(8, config.NumKeyValueHeads);
        Assert.Equal(32768, config.MaxPositionEmbeddings);
        Assert.False(config.AttentionBias);
        Assert.Equal((1024, 4096), config.ModuleShape("v_proj"));
        Assert.Equal((4096, 14336), config.ModuleShape("down_proj"));
        Assert.Null(ModelConfig.Parse(Edit(ConfigSamples.Mistral7B, c => c["sliding_window"] = null)).SlidingWindow);
    }

    [Fact]
    public void Qwen2_config_has_qkv_bias_tied_embeddings_and_no_window_unless_enabled()
    {
        var config = ModelConfig.Parse(ConfigSamples.Qwen2_05B);
        Assert.Equal("qwen2", config.ModelType);
        Assert.True(config.AttentionBias);
        Assert.False(config.AttentionOutputBias);
        Assert.True(config.TieWordEmbeddings);
        Assert.Equal(1_000_000.0, config.RopeTheta);
        Assert.Equal(1e-6, config.RmsNormEps);
        Assert.Equal(64, config.HeadDim);
        Assert.Equal(2, config.NumKeyValueHeads);
        Assert.Null(config.SlidingWindow);
        Assert.Equal([151643], config.EosTokenIds);
        Assert.Equal((128, 896), config.ModuleShape("k_proj"));

        Assert.False(ModelConfig.Parse(Edit(ConfigSamples.Qwen2_05B, c => c["tie_word_embeddings"] = false)).TieWordEmbeddings);
        Assert.Equal(131072, ModelConfig.Parse(Edit(ConfigSamples.Qwen2_05B, c => c["use_sliding_window"] = true)).SlidingWindow);
    }

    [Fact]
    public void Missing_optional_fields_take_the_hugging_face_defaults()
    {
        var config = ModelConfig.Parse(ConfigSamples.MinimalLlamaWithEosList);
        Assert.Equal(8, config.NumKeyValueHeads);
        Assert.Equal(32, config.HeadDim);
        Assert.Equal(10000.0, config.RopeTheta);
        Assert.False(config.TieWordEmbeddings);
        Assert.False(config.AttentionBias);
        Assert.Null(config.BosTokenId);
        Assert.Equal([128001, 128008, 128009], config.EosTokenIds);
        Assert.Equal("llama3", config.RopeScalingType);
    }

    [Fact]
    public void Explicit_head_dim_overrides_hidden_over_heads()
    {
        var config = ModelConfig.Parse(Edit(ConfigSamples.Mistral7B, c => c["head_dim"] = 96));
        Assert.Equal(96, config.HeadDim);
        Assert.Equal((32 * 96, 4096), config.ModuleShape("q_proj"));
        Assert.Equal((4096, 32 * 96), config.ModuleShape("o_proj"));
    }

    [Fact]
    public void Llama_attention_bias_field_is_honoured()
    {
        var config = ModelConfig.Parse(Edit(ConfigSamples.TinyLlama, c => c["attention_bias"] = true));
        Assert.True(config.AttentionBias);
        Assert.True(config.AttentionOutputBias);
    }

    [Fact]
    public void Heads_that_do_not_divide_are_rejected()
    {
        Assert.Contains("num_attention_heads (32) is not a multiple of num_key_value_heads (5)",
                        Invalid(Edit(ConfigSamples.TinyLlama, c => c["num_key_value_heads"] = 5)));
        Assert.Contains("hidden_size (2050) is not divisible by num_attention_heads (32)",
                        Invalid(Edit(ConfigSamples.TinyLlama, c => c["hidden_size"] = 2050)));
    }

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("num_hidden_layers")]
    [InlineData("vocab_size")]
    [InlineData("model_type")]
    public void Missing_required_fields_are_named(string field) =>
        Assert.Contains($"missing required field '{field}'", Invalid(Edit(ConfigSamples.TinyLlama, c => c.Remove(field))));

    [Fact]
    public void Unsupported_model_type_and_activation_are_rejected()
    {
        Assert.Contains("unsupported model_type 'gpt2' (supported: llama, mistral, qwen2)",
                        Invalid(Edit(ConfigSamples.TinyLlama, c => c["model_type"] = "gpt2")));
        Assert.Contains("unsupported hidden_act 'gelu'", Invalid(Edit(ConfigSamples.TinyLlama, c => c["hidden_act"] = "gelu")));
    }

    [Fact]
    public void Wrong_field_types_and_values_are_rejected()
    {
        Assert.Contains("field 'hidden_size' must be a 32-bit integer, got \"2048\"",
                        Invalid(Edit(ConfigSamples.TinyLlama, c => c["hidden_size"] = "2048")));
        Assert.Contains("field 'tie_word_embeddings' must be true or false",
                        Invalid(Edit(ConfigSamples.TinyLlama, c => c["tie_word_embeddings"] = 1)));
        Assert.Contains("num_hidden_layers must be a positive integer, got 0",
                        Invalid(Edit(ConfigSamples.TinyLlama, c => c["num_hidden_layers"] = 0)));
        Assert.Contains("config is not valid JSON", Invalid("{\"model_type\": "));
        Assert.Contains("config is not a JSON object", Invalid("[]"));
    }

    [Theory]
    [InlineData(nameof(ConfigSamples.TinyLlama))]
    [InlineData(nameof(ConfigSamples.Mistral7B))]
    [InlineData(nameof(ConfigSamples.Qwen2_05B))]
    [InlineData(nameof(ConfigSamples.MinimalLlamaWithEosList))]
    public void ToJson_reads_back_to_the_same_settings(string sample)
    {
        string json = (string)typeof(ConfigSamples).GetField(sample)!.GetValue(null)!;
        var original = ModelConfig.Parse(json);
        var again = ModelConfig.Parse(original.ToJson());
        Assert.Equal(original.EosTokenIds, again.EosTokenIds);
        Assert.Equal(original with { EosTokenIds = [] }, again with { EosTokenIds = [] });
    }

    [Fact]
    public void Load_accepts_a_model_directory_or_a_file_and_names_the_file_in_errors()
    {
        string dir = Path.Combine(Path.GetTempPath(), "loraqueue-config-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "config.json");
            File.WriteAllText(path, ConfigSamples.Qwen2_05B);
            Assert.Equal(24, ModelConfig.Load(dir).NumHiddenLayers);
            Assert.Equal(24, ModelConfig.Load(path).NumHiddenLayers);
            File.WriteAllText(path, "{}");
            Assert.Contains(path, Assert.ThrowsAny<FormatException>(() => ModelConfig.Load(dir)).Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Configs_built_in_code_fill_in_derived_defaults()
    {
        var config = new ModelConfig { VocabSize = 10, HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 1, NumAttentionHeads = 4 };
        config.Validate();
        Assert.Equal(4, config.NumKeyValueHeads);
        Assert.Equal(16, config.HeadDim);
        Assert.Equal(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], ModelConfig.LinearModules);
    }
}
