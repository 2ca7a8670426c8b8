using LoRAQueue.Formats;

namespace LoRAQueue.Engine.Tests;

/// <summary>Writes model directories derived from a base model (merged adapters, other configs), with plain loops
/// and the Formats writer only, so they are independent of the engine and of the LoRA kernels.</summary>
internal static class ModelFiles
{
    /// <summary>The base model with <paramref name="adapter"/> merged: W' = W + s·B·A for every adapter module (F32).</summary>
    public static string Merge(string baseDir, LoraAdapter adapter, string outDir)
    {
        var byTensor = adapter.Modules.ToDictionary(m => TensorName(m.Layer, m.Module));
        return Derive(baseDir, outDir, c => c, (name, values, shape) =>
        {
            if (byTensor.TryGetValue(name, out var m)) MergeInto(values, m);
            return [(name, values, shape)];
        });
    }

    /// <summary>Copies a model with an edited config and per-tensor rewrites (all tensors written as <paramref name="dtype"/>).</summary>
    public static string Derive(string baseDir, string outDir, Func<ModelConfig, ModelConfig> editConfig,
        Func<string, float[], long[], IEnumerable<(string Name, float[] Values, long[] Shape)>> editTensor,
        DType dtype = DType.F32, IEnumerable<(string Name, float[] Values, long[] Shape)>? extraTensors = null)
    {
        Directory.CreateDirectory(outDir);
        foreach (var file in Directory.GetFiles(baseDir))
            if (!file.EndsWith(".safetensors", StringComparison.Ordinal) && !file.EndsWith(".index.json", StringComparison.Ordinal))
                File.Copy(file, Path.Combine(outDir, Path.GetFileName(file)), overwrite: true);
        File.WriteAllText(Path.Combine(outDir, "config.json"), editConfig(ModelConfig.Load(baseDir)).ToJson());

        var tensors = new List<TensorToWrite>();
        using (var weights = ModelWeights.Open(baseDir))
        {
            foreach (var name in weights.Names.OrderBy(n => n, StringComparer.Ordinal))
                foreach (var (n, values, shape) in editTensor(name, weights.ReadFloat32(name), weights.Info(name).Shape))
                    tensors.Add(TensorToWrite.FromFloat32(n, values, shape, dtype));
        }
        foreach (var (n, values, shape) in extraTensors ?? [])
            tensors.Add(TensorToWrite.FromFloat32(n, values, shape, dtype));
        SafeTensorsWriter.Write(Path.Combine(outDir, "model.safetensors"), tensors);
        return outDir;
    }

    public static string TensorName(int layer, string module) =>
        $"model.layers.{layer}.{(module is "q_proj" or "k_proj" or "v_proj" or "o_proj" ? "self_attn" : "mlp")}.{module}.weight";

    /// <summary>W[o, i] += s · Σ_r B[o, r] · A[r, i], accumulated in double.</summary>
    private static void MergeInto(float[] w, LoraModule m)
    {
        for (int o = 0; o < m.Out; o++)
            for (int i = 0; i < m.In; i++)
            {
                double delta = 0;
                for (int r = 0; r < m.Rank; r++) delta += (double)m.B[o * m.Rank + r] * m.A[r * m.In + i];
                w[o * m.In + i] += (float)(m.Scale * delta);
            }
    }
}
