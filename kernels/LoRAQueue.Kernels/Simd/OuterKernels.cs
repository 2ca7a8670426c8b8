using System.Runtime.CompilerServices;

namespace LoRAQueue.Kernels;

/// <summary>
/// Outer-product micro-kernels: y_t[c] += scale · Σ_j v_t[j] · b_j[c], b row-major [depth, cols].
/// Each loaded b vector is reused across a tile of up to 4 tokens; accumulators live in registers over the
/// whole depth and touch y once. Used by LoRA expand (b = a Bᵀ panel) and by the packed GEMM (b = a Wᵀ panel).
/// </summary>
internal static unsafe class OuterKernels
{
    /// <summary>
    /// All tokens × cols: tiles of 4 tokens × 4 vectors, then single vectors, then scalar columns. A last tile
    /// of 2–3 tokens repeats a token row for reading and stores only its real rows, so b is read once per
    /// 4 tokens. While the first tile of a column block runs, <paramref name="prefetch"/> (same layout as b:
    /// the next panel, or null) is hinted into L2 so its DRAM reads overlap this panel's arithmetic.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AccumulateBlock<TS, TV>(float* v, nint vStride, int tokens, int depth, float* b, nint bStride,
                                               int cols, float scale, float* y, nint yStride, float* prefetch = null)
        where TS : struct, ISimd<TV> where TV : struct
    {
        int width = TS.Width, quad = 4 * width, c = 0;
        for (; c + quad <= cols; c += quad)
        {
            float* pf = prefetch != null ? prefetch + c : b + c;
            for (int t = 0; t < tokens; t += 4)
            {
                int n = Math.Min(4, tokens - t);
                float* vt = v + t * vStride, yt = y + t * yStride + c;
                if (n == 1) Outer1x4<TS, TV>(vt, depth, b + c, bStride, scale, yt, pf);
                else Outer4x4<TS, TV>(vt, vt + vStride, vt + Math.Min(2, n - 1) * vStride, vt + (n - 1) * vStride,
                                      depth, b + c, bStride, scale, yt, yStride, n, pf);
                pf = b + c;
            }
        }
        for (; c + width <= cols; c += width)
            for (int t = 0; t < tokens; t += 4)
            {
                int n = Math.Min(4, tokens - t);
                float* vt = v + t * vStride;
                Outer4x1<TS, TV>(vt, vt + Math.Min(1, n - 1) * vStride, vt + Math.Min(2, n - 1) * vStride, vt + (n - 1) * vStride,
                                 depth, b + c, bStride, scale, y + t * yStride + c, yStride, n);
            }
        for (; c < cols; c++)
            for (int t = 0; t < tokens; t++)
            {
                float* vt = v + t * vStride;
                float sum = 0;
                for (int j = 0; j < depth; j++) sum += vt[j] * b[j * bStride + c];
                y[t * yStride + c] += scale * sum;
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Outer4x4<TS, TV>(float* v0, float* v1, float* v2, float* v3, int depth, float* b, nint bStride,
                                 float scale, float* y, nint yStride, int rows, float* pf)
        where TS : struct, ISimd<TV> where TV : struct
    {
        int w = TS.Width;
        TV a00 = TS.Zero, a01 = TS.Zero, a02 = TS.Zero, a03 = TS.Zero;
        TV a10 = TS.Zero, a11 = TS.Zero, a12 = TS.Zero, a13 = TS.Zero;
        TV a20 = TS.Zero, a21 = TS.Zero, a22 = TS.Zero, a23 = TS.Zero;
        TV a30 = TS.Zero, a31 = TS.Zero, a32 = TS.Zero, a33 = TS.Zero;
        for (int j = 0; j < depth; j++, b += bStride, pf += bStride)
        {
            PrefetchQuad<TS, TV>(pf, w);
            TV b0 = TS.Load(b), b1 = TS.Load(b + w), b2 = TS.Load(b + 2 * w), b3 = TS.Load(b + 3 * w);
            TV e = TS.Broadcast(v0[j]);
            a00 = TS.Fma(e, b0, a00); a01 = TS.Fma(e, b1, a01); a02 = TS.Fma(e, b2, a02); a03 = TS.Fma(e, b3, a03);
            e = TS.Broadcast(v1[j]);
            a10 = TS.Fma(e, b0, a10); a11 = TS.Fma(e, b1, a11); a12 = TS.Fma(e, b2, a12); a13 = TS.Fma(e, b3, a13);
            e = TS.Broadcast(v2[j]);
            a20 = TS.Fma(e, b0, a20); a21 = TS.Fma(e, b1, a21); a22 = TS.Fma(e, b2, a22); a23 = TS.Fma(e, b3, a23);
            e = TS.Broadcast(v3[j]);
            a30 = TS.Fma(e, b0, a30); a31 = TS.Fma(e, b1, a31); a32 = TS.Fma(e, b2, a32); a33 = TS.Fma(e, b3, a33);
        }
        TV s = TS.Broadcast(scale);
        StoreAdd<TS, TV>(y, w, s, a00, a01, a02, a03);
        StoreAdd<TS, TV>(y + yStride, w, s, a10, a11, a12, a13);
        if (rows > 2) StoreAdd<TS, TV>(y + 2 * yStride, w, s, a20, a21, a22, a23);
        if (rows > 3) StoreAdd<TS, TV>(y + 3 * yStride, w, s, a30, a31, a32, a33);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Outer1x4<TS, TV>(float* v, int depth, float* b, nint bStride, float scale, float* y, float* pf)
        where TS : struct, ISimd<TV> where TV : struct
    {
        int w = TS.Width;
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero;
        for (int j = 0; j < depth; j++, b += bStride, pf += bStride)
        {
            PrefetchQuad<TS, TV>(pf, w);
            TV e = TS.Broadcast(v[j]);
            a0 = TS.Fma(e, TS.Load(b), a0); a1 = TS.Fma(e, TS.Load(b + w), a1);
            a2 = TS.Fma(e, TS.Load(b + 2 * w), a2); a3 = TS.Fma(e, TS.Load(b + 3 * w), a3);
        }
        StoreAdd<TS, TV>(y, w, TS.Broadcast(scale), a0, a1, a2, a3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Outer4x1<TS, TV>(float* v0, float* v1, float* v2, float* v3, int depth, float* b, nint bStride,
                                 float scale, float* y, nint yStride, int rows)
        where TS : struct, ISimd<TV> where TV : struct
    {
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero;
        for (int j = 0; j < depth; j++, b += bStride)
        {
            TV bj = TS.Load(b);
            a0 = TS.Fma(TS.Broadcast(v0[j]), bj, a0); a1 = TS.Fma(TS.Broadcast(v1[j]), bj, a1);
            a2 = TS.Fma(TS.Broadcast(v2[j]), bj, a2); a3 = TS.Fma(TS.Broadcast(v3[j]), bj, a3);
        }
        TV s = TS.Broadcast(scale);
        TS.Store(y, TS.Fma(a0, s, TS.Load(y)));
        if (rows > 1) TS.Store(y + yStride, TS.Fma(a1, s, TS.Load(y + yStride)));
        if (rows > 2) TS.Store(y + 2 * yStride, TS.Fma(a2, s, TS.Load(y + 2 * yStride)));
        if (rows > 3) TS.Store(y + 3 * yStride, TS.Fma(a3, s, TS.Load(y + 3 * yStride)));
    }

    /// <summary>y[0..n) += alpha · x[0..n): one rank row of a per-token expand (the loop kernel).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Axpy<TS, TV>(float alpha, float* x, float* y, int n) where TS : struct, ISimd<TV> where TV : struct
    {
        TV a = TS.Broadcast(alpha);
        int w = TS.Width, i = 0;
        for (; i + 2 * w <= n; i += 2 * w)
        {
            TS.Store(y + i, TS.Fma(a, TS.Load(x + i), TS.Load(y + i)));
            TS.Store(y + i + w, TS.Fma(a, TS.Load(x + i + w), TS.Load(y + i + w)));
        }
        for (; i + w <= n; i += w) TS.Store(y + i, TS.Fma(a, TS.Load(x + i), TS.Load(y + i)));
        for (; i < n; i++) y[i] += alpha * x[i];
    }

    /// <summary>Prefetches the 4 vectors (4·Width floats) at p: one hint per 64-byte line.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrefetchQuad<TS, TV>(float* p, int w) where TS : struct, ISimd<TV> where TV : struct
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported) return;
        for (int k = 0; k < 4 * w; k += 16) System.Runtime.Intrinsics.X86.Sse.Prefetch1(p + k);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreAdd<TS, TV>(float* y, int w, TV scale, TV a0, TV a1, TV a2, TV a3)
        where TS : struct, ISimd<TV> where TV : struct
    {
        TS.Store(y, TS.Fma(a0, scale, TS.Load(y)));
        TS.Store(y + w, TS.Fma(a1, scale, TS.Load(y + w)));
        TS.Store(y + 2 * w, TS.Fma(a2, scale, TS.Load(y + 2 * w)));
        TS.Store(y + 3 * w, TS.Fma(a3, scale, TS.Load(y + 3 * w)));
    }
}
