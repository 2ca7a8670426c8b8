using System.Runtime.CompilerServices;

namespace LoRAQueue.Kernels;

/// <summary>
/// One SIMD width's operations. Kernels are generic over an implementing struct so the JIT
/// emits one specialised copy per width (Vector512, Vector256, Vector128) from one source.
/// </summary>
internal unsafe interface ISimd<TV> where TV : struct
{
    static abstract int Width { get; }
    static abstract TV Zero { get; }
    static abstract TV Load(float* p);
    /// <summary>Loads Width BF16 values and widens them to float (bits &lt;&lt; 16).</summary>
    static abstract TV LoadBf16(ushort* p);
    static abstract void Store(float* p, TV v);
    static abstract TV Broadcast(float value);
    /// <summary>a · b + c.</summary>
    static abstract TV Fma(TV a, TV b, TV c);
    static abstract TV Add(TV a, TV b);
    static abstract float Sum(TV v);
    /// <summary>(Sum(a), Sum(b), Sum(c), Sum(d)) with shared shuffles: a tile's 16 reductions cost a third of 16 Sums.</summary>
    static abstract Vector128<float> Sum4(TV a, TV b, TV c, TV d);
}

/// <summary>The SIMD width a kernel call runs at; <see cref="Simd.Best"/> unless a test forces one.</summary>
internal enum SimdWidth { V128, V256, V512 }

internal static unsafe class Simd
{
    public static readonly SimdWidth Best =
        Vector512.IsHardwareAccelerated ? SimdWidth.V512 :
        Vector256.IsHardwareAccelerated ? SimdWidth.V256 : SimdWidth.V128;

    /// <summary>Loads Width weights of type TW (float or BF16 as ushort) as floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV LoadWeights<TS, TV, TW>(TW* p) where TS : struct, ISimd<TV> where TV : struct where TW : unmanaged
    {
        if (typeof(TW) == typeof(float)) return TS.Load((float*)p);
        return TS.LoadBf16((ushort*)p);
    }

    /// <summary>Hints the cache lines of Width values of TW at p into L2 (no-op where unsupported).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch<TS, TV, TW>(TW* p) where TS : struct, ISimd<TV> where TV : struct where TW : unmanaged
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported) return;
        System.Runtime.Intrinsics.X86.Sse.Prefetch1(p);
        if (TS.Width * sizeof(TW) > 64) System.Runtime.Intrinsics.X86.Sse.Prefetch1((byte*)p + 64);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat<TW>(TW* p) where TW : unmanaged
    {
        if (typeof(TW) == typeof(float)) return *(float*)p;
        return Bf16.ToFloat(*(ushort*)p);
    }
}

internal static class Bf16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Round-to-nearest-even, NaN kept quiet; used by tests and benchmarks to make BF16 data.</summary>
    public static ushort FromFloat(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }
}
