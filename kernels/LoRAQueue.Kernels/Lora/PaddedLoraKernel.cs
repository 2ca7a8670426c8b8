namespace LoRAQueue.Kernels;

/// <summary>
/// The baseline LoRAServe argues against (vLLM max_lora_rank, Punica BGMV): every adapter in the batch is
/// padded to the batch's largest rank R. It runs the same blocked units as <see cref="SegmentedLoraKernel"/>
/// but on zero-padded copies of A [R, in] and Bᵀ [R, out], so it really performs the padded FLOPs and reads
/// the padded weight memory. Shrink writes v[t, 0..R) (zeros past the adapter's rank); Expand reads them.
/// </summary>
public sealed class PaddedLoraKernel : IMultiLoraKernel
{
    readonly SimdWidth _width;
    readonly WorkerPool _pool;

    public PaddedLoraKernel() : this(Simd.Best, WorkerPool.Shared) { }

    internal PaddedLoraKernel(SimdWidth width, WorkerPool pool) { _width = width; _pool = pool; }

    public string Name => "padded";

    public void Shrink(ReadOnlySpan<float> x, int inDim, ReadOnlySpan<LoraSegment> segments, Span<float> v, int vStride)
    {
        int paddedRank = LoraBatchValidation.CheckShrink(x.Length, inDim, segments, v.Length, vStride);
        if (paddedRank > 0) LoraBatchRunner.Shrink(x, inDim, segments, v, vStride, paddedRank, _width, _pool);
    }

    public void Expand(ReadOnlySpan<float> v, int vStride, ReadOnlySpan<LoraSegment> segments, Span<float> y, int outDim)
    {
        int paddedRank = LoraBatchValidation.CheckExpand(v.Length, vStride, segments, y.Length, outDim);
        if (paddedRank > 0) LoraBatchRunner.Expand(v, vStride, segments, y, outDim, paddedRank, _width, _pool);
    }
}
