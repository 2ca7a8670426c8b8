namespace LoRAQueue.Formats;

/// <summary>
/// One LoRA pair of one layer's linear module: ΔW = Scale · B·A.
/// A is [Rank, In] row-major, B is [Out, Rank] row-major, as PEFT stores them.
/// </summary>
public sealed record LoraModule(int Layer, string Module, int Rank, float Scale, int In, int Out, float[] A, float[] B)
{
    /// <summary>PEFT's name of the module in the base model, e.g. <c>model.layers.3.self_attn.q_proj</c>.</summary>
    public string FullName => PeftNames.ModuleFullName(Layer, Module);
}
