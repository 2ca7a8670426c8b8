namespace LoRAQueue.Kernels;

/// <summary>
/// SGMV-style multi-LoRA: each segment runs at its own rank. Shrink register-blocks 4 tokens × 4 rank rows
/// so each A row load is reused by 4 tokens; expand keeps 4 tokens × 4 vectors of outputs in registers
/// across the rank. Work is split into (segment, token chunk, row/column block) units over the worker pool.
/// </summary>
public sealed class SegmentedLoraKernel : IMultiLoraKernel
{
    readonly SimdWidth _width;
    readonly WorkerPool _pool;

    public SegmentedLoraKernel() : this(Simd.Best, WorkerPool.Shared) { }

    internal SegmentedLoraKernel(SimdWidth width, WorkerPool pool) { _width = width; _pool = pool; }

    public string Name => "segmented";

    public void Shrink(ReadOnlySpan<float> x, int inDim, ReadOnlySpan<LoraSegment> segments, Span<float> v, int vStride)
    {
        LoraBatchValidation.CheckShrink(x.Length, inDim, segments, v.Length, vStride);
        LoraBatchRunner.Shrink(x, inDim, segments, v, vStride, paddedRank: 0, _width, _pool);
    }

    public void Expand(ReadOnlySpan<float> v, int vStride, ReadOnlySpan<LoraSegment> segments, Span<float> y, int outDim)
    {
        LoraBatchValidation.CheckExpand(v.Length, vStride, segments, y.Length, outDim);
        LoraBatchRunner.Expand(v, vStride, segments, y, outDim, paddedRank: 0, _width, _pool);
    }
}
