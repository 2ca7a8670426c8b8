using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace LoRAQueue.Kernels;

internal unsafe struct Simd512 : ISimd<Vector512<float>>
{
    public static int Width => 16;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadBf16(ushort* p)
    {
        // vpmovzxwd then shift: BF16 is the top half of an IEEE float.
        Vector512<uint> wide = Avx512F.IsSupported
            ? Avx512F.ConvertToVector512UInt32(Vector256.Load(p))
            : Vector512.WidenLower(Vector512.Create(Vector256.Load(p), Vector256<ushort>.Zero));
        return Vector512.ShiftLeft(wide, 16).AsSingle();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector512<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> v) => Vector512.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        if (!Avx512F.IsSupported) return Vector128.Create(Sum(a), Sum(b), Sum(c), Sum(d));
        // Per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3] and the same for c, d; then [a, b, c, d] partials per lane.
        var ab = Avx512F.UnpackLow(a, b) + Avx512F.UnpackHigh(a, b);
        var cd = Avx512F.UnpackLow(c, d) + Avx512F.UnpackHigh(c, d);
        var lanes = Avx512F.Shuffle(ab, cd, 0x44) + Avx512F.Shuffle(ab, cd, 0xEE);
        return Simd256.AddLanes(lanes.GetLower() + lanes.GetUpper());
    }
}

internal unsafe struct Simd256 : ISimd<Vector256<float>>
{
    public static int Width => 8;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadBf16(ushort* p)
    {
        Vector256<uint> wide = Avx2.IsSupported
            ? Avx2.ConvertToVector256Int32(Vector128.Load(p)).AsUInt32()
            : Vector256.WidenLower(Vector256.Create(Vector128.Load(p), Vector128<ushort>.Zero));
        return Vector256.ShiftLeft(wide, 16).AsSingle();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector256<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> v) => Vector256.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        if (!Avx.IsSupported) return Vector128.Create(Sum(a), Sum(b), Sum(c), Sum(d));
        var ab = Avx.UnpackLow(a, b) + Avx.UnpackHigh(a, b);
        var cd = Avx.UnpackLow(c, d) + Avx.UnpackHigh(c, d);
        return AddLanes(Avx.Shuffle(ab, cd, 0x44) + Avx.Shuffle(ab, cd, 0xEE));
    }
    /// <summary>Lower 128-bit lane + upper one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> AddLanes(Vector256<float> v) => v.GetLower() + v.GetUpper();
}

internal unsafe struct Simd128 : ISimd<Vector128<float>>
{
    public static int Width => 4;
    public static Vector128<float> Zero => Vector128<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(float* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadBf16(ushort* p)
    {
        Vector128<uint> wide = Vector128.WidenLower(Vector128.Create(Vector64.Load(p), Vector64<ushort>.Zero));
        return Vector128.ShiftLeft(wide, 16).AsSingle();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector128<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Broadcast(float value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Fma(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector128<float> v) => Vector128.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d)
    {
        if (!Sse.IsSupported) return Vector128.Create(Sum(a), Sum(b), Sum(c), Sum(d));
        var ab = Sse.UnpackLow(a, b) + Sse.UnpackHigh(a, b);
        var cd = Sse.UnpackLow(c, d) + Sse.UnpackHigh(c, d);
        return Sse.MoveLowToHigh(ab, cd) + Sse.MoveHighToLow(cd, ab);
    }
}
