namespace LoRAQueue.Kernels;

/// <summary>Tokens [Start, Start + Length) of a batch share <see cref="Module"/>; null means no adapter (rows untouched).</summary>
public readonly record struct LoraSegment(int Start, int Length, LoraModuleWeights? Module);

/// <summary>Batched multi-LoRA: shrink v = x·Aᵀ and expand y += scale·v·Bᵀ, each token with its segment's adapter.</summary>
public interface IMultiLoraKernel
{
    /// <summary>"segmented", "padded" or "loop".</summary>
    string Name { get; }

    /// <summary>
    /// v[t, 0..r) = x[t, :]·Aᵀ for each segment's tokens (r = the rank this kernel computes at: the module's,
    /// or the batch's largest for "padded"); v row stride = vStride (≥ that rank). Null-module rows are untouched.
    /// </summary>
    void Shrink(ReadOnlySpan<float> x, int inDim, ReadOnlySpan<LoraSegment> segments, Span<float> v, int vStride);

    /// <summary>y[t, :] += scale·v[t, 0..r)·Bᵀ for each segment's tokens; v must come from this kernel's Shrink.</summary>
    void Expand(ReadOnlySpan<float> v, int vStride, ReadOnlySpan<LoraSegment> segments, Span<float> y, int outDim);
}
