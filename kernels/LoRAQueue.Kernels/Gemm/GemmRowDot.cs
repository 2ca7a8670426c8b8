using System.Runtime.CompilerServices;

namespace LoRAQueue.Kernels;

/// <summary>
/// Few-token GEMM (decode, short prefill chunks): each unit owns a contiguous chunk of output rows and streams
/// those W rows once. One token reads the chunk as four parallel streams (bandwidth bound); more tokens take
/// 4-row blocks that stay in L1 while every 4-token tile is dotted against them (compute bound from ~8 tokens).
/// </summary>
internal static unsafe class GemmRowDot
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunUnit(void* context, int unit)
    {
        ref GemmContext c = ref *(GemmContext*)context;
        switch (c.Width, c.Type)
        {
            case (SimdWidth.V512, WeightType.F32): Run<Simd512, Vector512<float>, float>(ref c, unit); break;
            case (SimdWidth.V512, _): Run<Simd512, Vector512<float>, ushort>(ref c, unit); break;
            case (SimdWidth.V256, WeightType.F32): Run<Simd256, Vector256<float>, float>(ref c, unit); break;
            case (SimdWidth.V256, _): Run<Simd256, Vector256<float>, ushort>(ref c, unit); break;
            case (_, WeightType.F32): Run<Simd128, Vector128<float>, float>(ref c, unit); break;
            default: Run<Simd128, Vector128<float>, ushort>(ref c, unit); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Run<TS, TV, TW>(ref GemmContext c, int unit)
        where TS : struct, ISimd<TV> where TV : struct where TW : unmanaged
    {
        int rowStart = unit * c.RowsPerUnit;
        int rowCount = Math.Min(c.RowsPerUnit, c.Rows - rowStart);
        bool add = c.Accumulate || c.Bias != null;
        if (c.Bias != null) Gemm.InitOutput(c, rowStart, rowCount);
        TW* w = (TW*)c.W + (long)rowStart * c.Cols;
        if (c.Tokens == 1) DotKernels.DotStreams<TS, TV, TW>(c.X, w, c.Cols, rowCount, c.Cols, c.Y + rowStart, add);
        else DotKernels.DotBlock<TS, TV, TW>(c.X, c.Cols, c.Tokens, w, c.Cols, rowCount, c.Cols, c.Y + rowStart, c.Rows, add);
    }
}
