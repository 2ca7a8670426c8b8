namespace LoRAQueue.Formats.Tests.Peft;

using LoRAQueue.Formats.Tests.SafeTensors;
using static AdapterFiles;

public sealed class LoraAdapterTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private LoraAdapter Load(string config, IEnumerable<TensorToWrite> tensors, ModelConfig? baseModel = null)
    {
        string directory = _dir.File("adapter");
        Write(directory, config, tensors);
        return LoraAdapter.Load(directory, baseModel ?? BaseModel);
    }

    private string LoadFails(string config, IEnumerable<TensorToWrite> tensors, ModelConfig? baseModel = null) =>
        Assert.Throws<AdapterFormatException>(() => Load(config, tensors, baseModel)).Message;

    [Fact]
    public void Loads_q_and_v_modules_of_every_layer_with_their_values_and_scale()
    {
        var adapter = Load(Config(r: 8, alpha: 16), AllLayers("q_proj", 8).Concat(AllLayers("v_proj", 8, DType.BF16)));

        Assert.Equal(4, adapter.Modules.Count);
        Assert.Equal(["0 q_proj", "0 v_proj", "1 q_proj", "1 v_proj"], adapter.Modules.Select(m => $"{m.Layer} {m.Module}"));
        var v = adapter.Modules[3];
        Assert.Equal((8, 64, 32), (v.Rank, v.In, v.Out));
        Assert.Equal(2f, v.Scale);
        Assert.Equal(Values(8 * 64, 2), v.A);   // stored as BF16, read back as float
        Assert.Equal(Values(32 * 8, -2), v.B);
        Assert.Equal("model.layers.1.self_attn.v_proj", v.FullName);
        Assert.Equal(8, adapter.MaxRank);
        long bytesF32 = 2 * (8 * 64 + 64 * 8) * 4L, bytesBf16 = 2 * (8 * 64 + 32 * 8) * 2L;
        Assert.Equal(bytesF32 + bytesBf16, adapter.SizeBytes);
        Assert.Empty(adapter.Warnings);
        Assert.Equal(["q_proj", "v_proj"], adapter.Config.TargetModules);
    }

    [Fact]
    public void Rank_comes_from_the_tensor_shapes_not_from_r()
    {
        var adapter = Load(Config(r: 16, alpha: 32), AllLayers("q_proj", 4));
        Assert.All(adapter.Modules, m => Assert.Equal(4, m.Rank));
        Assert.All(adapter.Modules, m => Assert.Equal(8f, m.Scale)); // alpha / actual rank
        Assert.Equal(4, adapter.MaxRank);
        Assert.Contains(adapter.Warnings, w => w.Contains("r=16 in the config but the tensors have rank 4"));
    }

    [Fact]
    public void Rank_pattern_gives_modules_their_own_ranks()
    {
        string config = Config(r: 8, alpha: 16, targetModules: """["q_proj", "k_proj", "down_proj"]""",
                               rankPattern: """{"k_proj": 4, "model.layers.1.mlp.down_proj": 32}""");
        var tensors = AllLayers("q_proj", 8).Concat(AllLayers("k_proj", 4))
            .Concat(Pair(0, "down_proj", 8)).Concat(Pair(1, "down_proj", 32));
        var adapter = Load(config, tensors);

        var ranks = adapter.Modules.ToDictionary(m => m.FullName, m => m.Rank);
        Assert.Equal(8, ranks["model.layers.0.self_attn.q_proj"]);
        Assert.Equal(4, ranks["model.layers.1.self_attn.k_proj"]);
        Assert.Equal(8, ranks["model.layers.0.mlp.down_proj"]);
        Assert.Equal(32, ranks["model.layers.1.mlp.down_proj"]);
        Assert.Equal(32, adapter.MaxRank);
        Assert.Equal(0.5f, adapter.Modules.Single(m => m.FullName == "model.layers.1.mlp.down_proj").Scale);
        Assert.Equal(4f, adapter.Modules.Single(m => m.FullName == "model.layers.0.self_attn.k_proj").Scale);
        Assert.Empty(adapter.Warnings);
    }

    [Fact]
    public void Rank_pattern_that_contradicts_the_tensors_is_an_error()
    {
        string message = LoadFails(Config(r: 8, alpha: 16, rankPattern: """{"v_proj": 16}"""),
                                   AllLayers("q_proj", 8).Concat(AllLayers("v_proj", 8)));
        Assert.Contains("rank_pattern 'v_proj' states r=16 for model.layers.0.self_attn.v_proj but its tensors have rank 8", message);
    }

    [Fact]
    public void Alpha_pattern_changes_the_scale_of_matching_modules_only()
    {
        string config = Config(r: 8, alpha: 16, alphaPattern: """{"layers.1.self_attn.v_proj": 64}""");
        var adapter = Load(config, AllLayers("q_proj", 8).Concat(AllLayers("v_proj", 8)));
        var scales = adapter.Modules.ToDictionary(m => m.FullName, m => m.Scale);
        Assert.Equal(2f, scales["model.layers.0.self_attn.v_proj"]);
        Assert.Equal(8f, scales["model.layers.1.self_attn.v_proj"]);
        Assert.Equal(2f, scales["model.layers.1.self_attn.q_proj"]);
    }

    [Fact]
    public void RsLora_scales_by_alpha_over_the_square_root_of_the_rank()
    {
        var adapter = Load(Config(r: 16, alpha: 8, useRslora: true), AllLayers("q_proj", 16).Concat(AllLayers("v_proj", 16)));
        Assert.All(adapter.Modules, m => Assert.Equal(2f, m.Scale)); // 8 / √16
        Assert.True(adapter.Config.UseRslora);
    }

    [Fact]
    public void Adapter_for_a_base_model_with_other_dimensions_is_refused()
    {
        var biggerBase = BaseModel with { HiddenSize = 128, NumAttentionHeads = 8, NumKeyValueHeads = 4, HeadDim = 16 };
        string directory = _dir.File("big");
        Write(directory, Config(r: 4, alpha: 8), [
            TensorToWrite.FromFloat32(Key(0, "q_proj", 'A'), Values(4 * 128, 1), [4, 128], DType.F32),
            TensorToWrite.FromFloat32(Key(0, "q_proj", 'B'), Values(128 * 4, 1), [128, 4], DType.F32),
        ]);
        Assert.Equal(128, LoraAdapter.Load(directory, biggerBase).Modules[0].In);

        string message = Assert.Throws<AdapterFormatException>(() => LoraAdapter.Load(directory, BaseModel)).Message;
        Assert.Contains("adapter made for another base model: model.layers.0.self_attn.q_proj expects [out,in] = [64, 64] got [128, 128]", message);
    }

    [Fact]
    public void Adapter_with_more_layers_than_the_base_model_is_refused()
    {
        string message = LoadFails(Config(r: 4, alpha: 8), AllLayers("q_proj", 4).Concat(Pair(2, "q_proj", 4)));
        Assert.Contains("adapter made for another base model", message);
        Assert.Contains("is for layer 2 but the base model has 2 layers", message);
    }

    [Fact]
    public void Target_module_the_model_does_not_have_is_refused()
    {
        string message = LoadFails(Config(r: 4, alpha: 8, targetModules: """["q_proj", "c_attn"]"""), AllLayers("q_proj", 4));
        Assert.Contains("unknown target module 'c_attn'", message);
    }

    [Fact]
    public void Tensor_for_a_module_the_model_does_not_have_is_refused()
    {
        var tensors = new[]
        {
            TensorToWrite.FromFloat32(Key(0, "qkv_proj", 'A', "self_attn"), Values(4 * 64, 0), [4, 64], DType.F32),
            TensorToWrite.FromFloat32(Key(0, "qkv_proj", 'B', "self_attn"), Values(64 * 4, 0), [64, 4], DType.F32),
        };
        Assert.Contains("unknown target module 'self_attn.qkv_proj'", LoadFails(Config(r: 4, alpha: 8), tensors));
        Assert.Contains("unknown target module 'mlp.q_proj'",
                        LoadFails(Config(r: 4, alpha: 8), [TensorToWrite.FromFloat32(Key(0, "q_proj", 'A', "mlp"), Values(4 * 64, 0), [4, 64], DType.F32)]));
    }

    [Fact]
    public void Lora_A_without_its_lora_B_is_refused()
    {
        var tensors = AllLayers("q_proj", 4).Where(t => t.Name != Key(1, "q_proj", 'B'));
        Assert.Contains("model.layers.1.self_attn.q_proj has lora_A but no lora_B", LoadFails(Config(r: 4, alpha: 8), tensors));
    }

    [Fact]
    public void Ranks_of_A_and_B_must_agree()
    {
        var tensors = new[] { A(0, "q_proj", 4, 64), B(0, "q_proj", 8, 64) };
        Assert.Contains("lora_A has rank 4 but lora_B has rank 8", LoadFails(Config(r: 4, alpha: 8), tensors));
    }

    [Fact]
    public void Fan_in_fan_out_is_forced_off_for_linear_layers_with_a_warning()
    {
        var adapter = Load(Config(r: 4, alpha: 8, fanInFanOut: true), AllLayers("q_proj", 4));
        Assert.False(adapter.Config.FanInFanOut);
        Assert.Contains(adapter.Warnings, w => w.Contains("setting fan_in_fan_out to False"));
        Assert.Equal(64 * 4, adapter.Modules[0].B.Length);
    }

    [Fact]
    public void Target_modules_as_a_regex_string_match_full_module_names()
    {
        var adapter = Load(Config(r: 4, alpha: 8, targetModules: "\".*\\\\.(q_proj|up_proj)\""),
                           AllLayers("q_proj", 4).Concat(AllLayers("up_proj", 4)));
        Assert.Equal(".*\\.(q_proj|up_proj)", adapter.Config.TargetModulesRegex);
        Assert.Empty(adapter.Warnings);
        Assert.Equal((128, 64), (adapter.Modules[1].Out, adapter.Modules[1].In));

        Assert.Contains("matches no linear module of the base model",
                        LoadFails(Config(r: 4, alpha: 8, targetModules: "\".*lm_head\""), AllLayers("q_proj", 4)));
    }

    [Fact]
    public void Only_safetensors_weights_are_accepted()
    {
        string directory = _dir.Subdirectory("bin-only");
        File.WriteAllText(Path.Combine(directory, "adapter_config.json"), Config(r: 4, alpha: 8));
        File.WriteAllBytes(Path.Combine(directory, "adapter_model.bin"), [0x80, 0x02]);
        string message = Assert.Throws<AdapterFormatException>(() => LoraAdapter.Load(directory, BaseModel)).Message;
        Assert.Contains("only adapter_model.safetensors is supported", message);
    }

    [Fact]
    public void Corrupt_weights_file_surfaces_as_an_adapter_error_naming_the_file()
    {
        string directory = _dir.Subdirectory("corrupt");
        File.WriteAllText(Path.Combine(directory, "adapter_config.json"), Config(r: 4, alpha: 8));
        File.WriteAllBytes(Path.Combine(directory, "adapter_model.safetensors"), [1, 2, 3]);
        var error = Assert.Throws<AdapterFormatException>(() => LoraAdapter.Load(directory, BaseModel));
        Assert.IsType<SafeTensorsException>(error.InnerException);
        Assert.Contains("adapter_model.safetensors", error.Message);
    }

    [Fact]
    public void Missing_config_and_unsupported_adapter_kinds_are_explained()
    {
        string empty = _dir.Subdirectory("empty");
        Assert.Contains("has no adapter_config.json", Assert.Throws<AdapterFormatException>(() => LoraAdapter.Load(empty, BaseModel)).Message);
        Assert.Contains("DoRA adapters (use_dora=true) are not supported",
                        LoadFails(Config(r: 4, alpha: 8).Replace("\"bias\": \"none\"", "\"use_dora\": true"), AllLayers("q_proj", 4)));
        Assert.Contains("unsupported peft_type 'IA3'",
                        LoadFails(Config(r: 4, alpha: 8).Replace("\"LORA\"", "\"IA3\""), AllLayers("q_proj", 4)));
        Assert.Contains("unexpected tensor 'base_model.model.lm_head.weight'",
                        LoadFails(Config(r: 4, alpha: 8), [TensorToWrite.FromFloat32("base_model.model.lm_head.weight", [1f], [1], DType.F32)]));
    }
}
