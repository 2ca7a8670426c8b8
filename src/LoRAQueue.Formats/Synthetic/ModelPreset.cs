namespace LoRAQueue.Formats;

/// <summary>The shape of a Llama-family model that <see cref="SyntheticModel"/> fills with random weights.</summary>
public sealed record ModelPreset(
    string Name, int HiddenSize, int NumHiddenLayers, int NumAttentionHeads, int NumKeyValueHeads,
    int IntermediateSize, int VocabSize, int MaxPositionEmbeddings, DType DType)
{
    public double RopeTheta { get; init; } = 10000;
    public double RmsNormEps { get; init; } = 1e-5;
    public bool TieWordEmbeddings { get; init; }

    public int HeadDim => HiddenSize / NumAttentionHeads;
    public int KeyValueSize => NumKeyValueHeads * HeadDim;

    /// <summary>Every tensor in Hugging Face order and naming, with its shape [out, in] for linear layers.</summary>
    public IReadOnlyList<(string Name, long[] Shape, bool IsNorm)> Tensors()
    {
        var tensors = new List<(string, long[], bool)> { ("model.embed_tokens.weight", [VocabSize, HiddenSize], false) };
        for (int layer = 0; layer < NumHiddenLayers; layer++)
        {
            string prefix = $"model.layers.{layer}.";
            tensors.Add((prefix + "input_layernorm.weight", [HiddenSize], true));
            tensors.Add((prefix + "self_attn.q_proj.weight", [HiddenSize, HiddenSize], false));
            tensors.Add((prefix + "self_attn.k_proj.weight", [KeyValueSize, HiddenSize], false));
            tensors.Add((prefix + "self_attn.v_proj.weight", [KeyValueSize, HiddenSize], false));
            tensors.Add((prefix + "self_attn.o_proj.weight", [HiddenSize, HiddenSize], false));
            tensors.Add((prefix + "post_attention_layernorm.weight", [HiddenSize], true));
            tensors.Add((prefix + "mlp.gate_proj.weight", [IntermediateSize, HiddenSize], false));
            tensors.Add((prefix + "mlp.up_proj.weight", [IntermediateSize, HiddenSize], false));
            tensors.Add((prefix + "mlp.down_proj.weight", [HiddenSize, IntermediateSize], false));
        }
        tensors.Add(("model.norm.weight", [HiddenSize], true));
        if (!TieWordEmbeddings) tensors.Add(("lm_head.weight", [VocabSize, HiddenSize], false));
        return tensors;
    }

    public long ParameterCount => Tensors().Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));

    public long WeightBytes => ParameterCount * DTypes.SizeOf(DType);

    internal void Validate()
    {
        if (HiddenSize <= 0 || NumHiddenLayers <= 0 || NumAttentionHeads <= 0 || NumKeyValueHeads <= 0
            || IntermediateSize <= 0 || VocabSize <= 0 || MaxPositionEmbeddings <= 0)
            throw new ArgumentException($"preset '{Name}': every size must be positive");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new ArgumentException($"preset '{Name}': hidden_size {HiddenSize} is not a multiple of {NumAttentionHeads} heads");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new ArgumentException($"preset '{Name}': {NumAttentionHeads} heads are not a multiple of {NumKeyValueHeads} key/value heads");
    }
}
