namespace LoRAQueue.Formats.Tests.Peft;

/// <summary>Writes PEFT adapter directories for tests, on a small Llama base model.</summary>
public static class AdapterFiles
{
    /// <summary>hidden 64, 4 heads of 16, 2 KV heads (k/v out = 32), intermediate 128, 2 layers.</summary>
    public static ModelConfig BaseModel { get; } = new()
    {
        ModelType = "llama", VocabSize = 100, HiddenSize = 64, IntermediateSize = 128,
        NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
    };

    public static string Key(int layer, string module, char ab, string parent = "") =>
        $"base_model.model.model.layers.{layer}.{(parent.Length > 0 ? parent : ParentOf(module))}.{module}.lora_{ab}.weight";

    private static string ParentOf(string module) => module is "gate_proj" or "up_proj" or "down_proj" ? "mlp" : "self_attn";

    /// <summary>Values that BF16 stores exactly, distinct per tensor.</summary>
    public static float[] Values(int count, float offset)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = offset + (i % 8) * 0.125f;
        return values;
    }

    public static TensorToWrite A(int layer, string module, int rank, int inDim, DType dtype = DType.F32) =>
        TensorToWrite.FromFloat32(Key(layer, module, 'A'), Values(rank * inDim, layer + 1), [rank, inDim], dtype);

    public static TensorToWrite B(int layer, string module, int rank, int outDim, DType dtype = DType.F32) =>
        TensorToWrite.FromFloat32(Key(layer, module, 'B'), Values(outDim * rank, -(layer + 1)), [outDim, rank], dtype);

    /// <summary>A and B of a module with the base model's own dimensions.</summary>
    public static IEnumerable<TensorToWrite> Pair(int layer, string module, int rank, DType dtype = DType.F32)
    {
        var (outDim, inDim) = BaseModel.ModuleShape(module);
        yield return A(layer, module, rank, inDim, dtype);
        yield return B(layer, module, rank, outDim, dtype);
    }

    public static IEnumerable<TensorToWrite> AllLayers(string module, int rank, DType dtype = DType.F32) =>
        Enumerable.Range(0, BaseModel.NumHiddenLayers).SelectMany(layer => Pair(layer, module, rank, dtype));

    public static void Write(string directory, string configJson, IEnumerable<TensorToWrite> tensors)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "adapter_config.json"), configJson);
        SafeTensorsWriter.Write(Path.Combine(directory, "adapter_model.safetensors"), tensors,
                                new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>An adapter_config.json as PEFT writes it.</summary>
    public static string Config(int r, double alpha, string targetModules = """["q_proj", "v_proj"]""",
                                string rankPattern = "{}", string alphaPattern = "{}",
                                bool useRslora = false, bool fanInFanOut = false) => $$"""
        {
          "alpha_pattern": {{alphaPattern}},
          "auto_mapping": null,
          "base_model_name_or_path": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
          "bias": "none",
          "fan_in_fan_out": {{(fanInFanOut ? "true" : "false")}},
          "inference_mode": true,
          "init_lora_weights": true,
          "layers_to_transform": null,
          "lora_alpha": {{alpha}},
          "lora_dropout": 0.05,
          "modules_to_save": null,
          "peft_type": "LORA",
          "r": {{r}},
          "rank_pattern": {{rankPattern}},
          "revision": null,
          "target_modules": {{targetModules}},
          "task_type": "CAUSAL_LM",
          "use_rslora": {{(useRslora ? "true" : "false")}}
        }
        """;
}
