using System.Runtime.CompilerServices;

namespace LoRAQueue.Kernels;

/// <summary>
/// The plain per-request loop: one token at a time, a SIMD dot per rank row for shrink and a SIMD axpy per
/// rank row of Bᵀ for expand, single-threaded, no reuse of a loaded weight across tokens. The benchmark's baseline.
/// </summary>
public sealed unsafe class LoopLoraKernel : IMultiLoraKernel
{
    readonly SimdWidth _width;

    public LoopLoraKernel() : this(Simd.Best) { }

    internal LoopLoraKernel(SimdWidth width) { _width = width; }

    public string Name => "loop";

    public void Shrink(ReadOnlySpan<float> x, int inDim, ReadOnlySpan<LoraSegment> segments, Span<float> v, int vStride)
    {
        LoraBatchValidation.CheckShrink(x.Length, inDim, segments, v.Length, vStride);
        fixed (float* xp = x, vp = v)
            foreach (var s in segments)
            {
                if (s.Module is null) continue;
                for (int t = s.Start; t < s.Start + s.Length; t++)
                    for (int j = 0; j < s.Module.Rank; j++)
                        vp[(long)t * vStride + j] = Dot(xp + (long)t * inDim, s.Module.APointer + (long)j * inDim, inDim);
            }
    }

    public void Expand(ReadOnlySpan<float> v, int vStride, ReadOnlySpan<LoraSegment> segments, Span<float> y, int outDim)
    {
        LoraBatchValidation.CheckExpand(v.Length, vStride, segments, y.Length, outDim);
        fixed (float* vp = v, yp = y)
            foreach (var s in segments)
            {
                if (s.Module is null) continue;
                fixed (float* bt = s.Module.BT)
                    for (int t = s.Start; t < s.Start + s.Length; t++)
                        for (int j = 0; j < s.Module.Rank; j++)
                            Axpy(s.Module.Scale * vp[(long)t * vStride + j], bt + (long)j * outDim, yp + (long)t * outDim, outDim);
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    float Dot(float* x, float* w, int n) => _width switch
    {
        SimdWidth.V512 => DotKernels.Dot1x1<Simd512, Vector512<float>, float>(x, w, n),
        SimdWidth.V256 => DotKernels.Dot1x1<Simd256, Vector256<float>, float>(x, w, n),
        _ => DotKernels.Dot1x1<Simd128, Vector128<float>, float>(x, w, n),
    };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Axpy(float alpha, float* x, float* y, int n)
    {
        switch (_width)
        {
            case SimdWidth.V512: OuterKernels.Axpy<Simd512, Vector512<float>>(alpha, x, y, n); break;
            case SimdWidth.V256: OuterKernels.Axpy<Simd256, Vector256<float>>(alpha, x, y, n); break;
            default: OuterKernels.Axpy<Simd128, Vector128<float>>(alpha, x, y, n); break;
        }
    }
}
