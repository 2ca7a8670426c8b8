using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace LoRAQueue.Kernels;

/// <summary>
/// Many-token GEMM (prefill). Each unit owns a strip of StripRows output rows. For each depth block of
/// DepthBlock inputs it packs Wᵀ of the strip into a per-thread panel [DepthBlock, StripRows] (widening BF16
/// once), then runs the outer-product kernel over all tokens: 4 tokens × 4 vectors of outputs stay in
/// registers while the panel, reused by every token, stays in L1/L2.
/// </summary>
internal static unsafe class GemmPacked
{
    public const int StripRows = 64;
    public const int DepthBlock = 256;

    [ThreadStatic] static float[]? t_panel;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunUnit(void* context, int unit)
    {
        ref GemmContext c = ref *(GemmContext*)context;
        t_panel ??= GC.AllocateUninitializedArray<float>(StripRows * DepthBlock, pinned: true);
        fixed (float* panel = t_panel)
        {
            switch (c.Width, c.Type)
            {
                case (SimdWidth.V512, WeightType.F32): Run<Simd512, Vector512<float>, float>(ref c, unit, panel); break;
                case (SimdWidth.V512, _): Run<Simd512, Vector512<float>, ushort>(ref c, unit, panel); break;
                case (SimdWidth.V256, WeightType.F32): Run<Simd256, Vector256<float>, float>(ref c, unit, panel); break;
                case (SimdWidth.V256, _): Run<Simd256, Vector256<float>, ushort>(ref c, unit, panel); break;
                case (_, WeightType.F32): Run<Simd128, Vector128<float>, float>(ref c, unit, panel); break;
                default: Run<Simd128, Vector128<float>, ushort>(ref c, unit, panel); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Run<TS, TV, TW>(ref GemmContext c, int unit, float* panel)
        where TS : struct, ISimd<TV> where TV : struct where TW : unmanaged
    {
        int rowStart = unit * StripRows;
        int rowCount = Math.Min(StripRows, c.Rows - rowStart);
        Gemm.InitOutput(c, rowStart, rowCount);
        TW* w = (TW*)c.W + (long)rowStart * c.Cols;
        for (int k0 = 0; k0 < c.Cols; k0 += DepthBlock)
        {
            int depth = Math.Min(DepthBlock, c.Cols - k0);
            Pack(w + k0, c.Cols, rowCount, depth, panel);
            OuterKernels.AccumulateBlock<TS, TV>(c.X + k0, c.Cols, c.Tokens, depth, panel, StripRows,
                                                 rowCount, 1f, c.Y + rowStart, c.Rows);
        }
    }

    /// <summary>panel[k, r] = W[r, k] for r &lt; rows, k &lt; depth (as float); 8×8 AVX transposes, scalar edges.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Pack<TW>(TW* w, nint wStride, int rows, int depth, float* panel) where TW : unmanaged
    {
        int rowEnd = 0, depthEnd = 0;
        if (Avx.IsSupported)
        {
            rowEnd = rows & ~7; depthEnd = depth & ~7;
            for (int r = 0; r < rowEnd; r += 8)
                for (int k = 0; k < depthEnd; k += 8)
                    Transpose8x8(w + r * wStride + k, wStride, panel + k * StripRows + r);
        }
        for (int r = 0; r < rows; r++)
        {
            TW* src = w + r * wStride;
            int kStart = r < rowEnd ? depthEnd : 0;
            float* dst = panel + kStart * StripRows + r;
            for (int k = kStart; k < depth; k++, dst += StripRows) *dst = Simd.ToFloat(src + k);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Load8<TW>(TW* p) where TW : unmanaged
        => typeof(TW) == typeof(float) ? Vector256.Load((float*)p) : Simd256.LoadBf16((ushort*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8x8<TW>(TW* src, nint srcStride, float* dst) where TW : unmanaged
    {
        Vector256<float> r0 = Load8(src), r1 = Load8(src + srcStride), r2 = Load8(src + 2 * srcStride), r3 = Load8(src + 3 * srcStride);
        Vector256<float> r4 = Load8(src + 4 * srcStride), r5 = Load8(src + 5 * srcStride), r6 = Load8(src + 6 * srcStride), r7 = Load8(src + 7 * srcStride);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Permute2x128(u0, u4, 0x20).Store(dst);
        Avx.Permute2x128(u1, u5, 0x20).Store(dst + StripRows);
        Avx.Permute2x128(u2, u6, 0x20).Store(dst + 2 * StripRows);
        Avx.Permute2x128(u3, u7, 0x20).Store(dst + 3 * StripRows);
        Avx.Permute2x128(u0, u4, 0x31).Store(dst + 4 * StripRows);
        Avx.Permute2x128(u1, u5, 0x31).Store(dst + 5 * StripRows);
        Avx.Permute2x128(u2, u6, 0x31).Store(dst + 6 * StripRows);
        Avx.Permute2x128(u3, u7, 0x31).Store(dst + 7 * StripRows);
    }
}
