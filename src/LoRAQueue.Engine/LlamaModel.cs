using LoRAQueue.Formats;
using LoRAQueue.Kernels;

namespace LoRAQueue.Engine;

/// <summary>A Llama-family decoder (llama, mistral, qwen2) over a Hugging Face model directory.
/// F32 and BF16 matrices are used straight from the memory map; F16 ones are converted to F32 once.
/// The forward pass is in LlamaModel.Forward.cs.</summary>
public sealed unsafe partial class LlamaModel : IDisposable
{
    private readonly ModelWeights _weights;

    public ModelConfig Config { get; }

    /// <summary>Bytes of every weight tensor the model uses (matrices as stored or converted, norms, biases).</summary>
    public long WeightBytes { get; }

    /// <summary>Bytes of the per-layer weights (matrices, norms, biases): all read by every step.</summary>
    public long LayerWeightBytes { get; }

    internal LayerWeights[] Layers { get; }
    internal WeightMatrix Embedding { get; }
    internal WeightMatrix LmHead { get; }
    internal float[] FinalNorm { get; }

    internal int HeadDim => Config.HeadDim;
    internal int QDim => Config.NumAttentionHeads * Config.HeadDim;
    internal int KvDim => Config.NumKeyValueHeads * Config.HeadDim;

    private LlamaModel(ModelConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        ValidateShape(config);
        long bytes = 0;

        Embedding = Matrix("model.embed_tokens.weight", config.VocabSize, config.HiddenSize, ref bytes);
        LmHead = config.TieWordEmbeddings || !weights.Contains("lm_head.weight")
            ? Embedding
            : Matrix("lm_head.weight", config.VocabSize, config.HiddenSize, ref bytes);
        FinalNorm = Vector("model.norm.weight", config.HiddenSize, ref bytes);

        long layerBytesBefore = bytes;
        Layers = new LayerWeights[config.NumHiddenLayers];
        for (int i = 0; i < Layers.Length; i++)
            Layers[i] = LoadLayer(i, ref bytes);
        LayerWeightBytes = bytes - layerBytesBefore;
        WeightBytes = bytes;
    }

    public static LlamaModel Load(string modelDirectory)
    {
        var config = ModelConfig.Load(modelDirectory);
        var weights = ModelWeights.Open(modelDirectory);
        try
        {
            return new LlamaModel(config, weights);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    private LayerWeights LoadLayer(int i, ref long bytes)
    {
        string p = $"model.layers.{i}.";
        var c = Config;
        var layer = new LayerWeights
        {
            AttentionNorm = Vector(p + "input_layernorm.weight", c.HiddenSize, ref bytes),
            FeedForwardNorm = Vector(p + "post_attention_layernorm.weight", c.HiddenSize, ref bytes),
        };
        for (int m = 0; m < LinearModule.Count; m++)
        {
            string name = LinearModule.Names[m];
            var (rows, cols) = c.ModuleShape(name);
            layer.Linear[m] = Matrix(p + LinearModule.TensorPrefix(m) + ".weight", rows, cols, ref bytes);
            if ((c.AttentionBias && m <= LinearModule.V) || (c.AttentionOutputBias && m == LinearModule.O))
                layer.Bias[m] = Vector(p + LinearModule.TensorPrefix(m) + ".bias", rows, ref bytes);
        }
        return layer;
    }

    private WeightMatrix Matrix(string name, int rows, int cols, ref long bytes)
    {
        var info = Require(name);
        if (info.Shape.Length != 2 || info.Shape[0] != rows || info.Shape[1] != cols)
            throw new FormatException($"{name}: shape [{string.Join(", ", info.Shape)}], expected [{rows}, {cols}] from config.json.");
        switch (info.DType)
        {
            case DType.F32:
                bytes += info.ByteLength;
                return new WeightMatrix(_weights.GetPointer(name), WeightType.F32, rows, cols);
            case DType.BF16:
                bytes += info.ByteLength;
                return new WeightMatrix(_weights.GetPointer(name), WeightType.BF16, rows, cols);
            default:
                // F16 has no fast kernel: converted once to a pinned F32 copy that the matrix keeps alive.
                var converted = WeightMatrix.Pin(_weights.ReadFloat32(name), rows, cols);
                bytes += converted.ByteLength;
                return converted;
        }
    }

    private float[] Vector(string name, int length, ref long bytes)
    {
        var info = Require(name);
        if (info.Shape.Length != 1 || info.Shape[0] != length)
            throw new FormatException($"{name}: shape [{string.Join(", ", info.Shape)}], expected [{length}] from config.json.");
        bytes += info.ByteLength;
        return _weights.ReadFloat32(name);
    }

    private TensorInfo Require(string name) =>
        _weights.Contains(name) ? _weights.Info(name) : throw new FormatException($"Model is missing tensor {name}.");

    private static void ValidateShape(ModelConfig c)
    {
        if (c.NumAttentionHeads <= 0 || c.NumKeyValueHeads <= 0 || c.NumAttentionHeads % c.NumKeyValueHeads != 0)
            throw new FormatException($"config.json: num_attention_heads {c.NumAttentionHeads} must be a positive multiple of num_key_value_heads {c.NumKeyValueHeads}.");
        if (c.HeadDim <= 0 || c.HeadDim % 2 != 0)
            throw new FormatException($"config.json: head_dim {c.HeadDim} must be positive and even (RoPE rotates halves).");
        if (c.RopeScalingType is not null)
            throw new FormatException($"config.json: rope_scaling '{c.RopeScalingType}' is not supported (plain RoPE only).");
    }

    public void Dispose() => _weights.Dispose();
}

/// <summary>One decoder layer's weights; Linear and Bias are indexed by <see cref="LinearModule"/>.</summary>
internal sealed class LayerWeights
{
    public required float[] AttentionNorm { get; init; }
    public required float[] FeedForwardNorm { get; init; }
    public WeightMatrix[] Linear { get; } = new WeightMatrix[LinearModule.Count];
    public float[]?[] Bias { get; } = new float[]?[LinearModule.Count];
}

/// <summary>The seven LoRA-targetable linear modules, in a fixed index order.</summary>
internal static class LinearModule
{
    public const int Q = 0, K = 1, V = 2, O = 3, Gate = 4, Up = 5, Down = 6, Count = 7;
    public static readonly string[] Names = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    public static string TensorPrefix(int m) => m <= O ? "self_attn." + Names[m] : "mlp." + Names[m];

    public static int IndexOf(string module)
    {
        int i = Array.IndexOf(Names, module);
        return i >= 0 ? i : throw new ArgumentException($"Unknown linear module '{module}' (expected one of {string.Join(", ", Names)}).");
    }
}
