using System.Runtime.CompilerServices;

namespace LoRAQueue.Kernels;

/// <summary>
/// Row-dot micro-kernels: results are Σ_i x_t[i]·w_j[i] for a few activation rows t and weight rows j,
/// each loaded vector reused across the block (x·Wᵀ with W row-major). TW is float or BF16 (ushort).
/// The 4-row kernels read rows w, w + wStride, w + 2·wStride, w + 3·wStride, and prefetch rows at <c>pf</c>
/// (same stride: the next tile) into L2 as they go, so streaming the next weights from DRAM overlaps this
/// tile's arithmetic; pass the current rows when there is no next.
/// </summary>
internal static unsafe class DotKernels
{
    /// <summary>
    /// 4 token rows × 4 weight rows; r[t·4 + j]. Token pointers may repeat (for a partial block). Prefetches
    /// only the first <paramref name="pfRows"/> (0–4) rows at pf: tiles that share one weight block split
    /// its successor between them, so DRAM keeps streaming while every tile computes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4x4<TS, TV, TW>(float* x0, float* x1, float* x2, float* x3, TW* w, nint wStride, int length, float* r,
                                          TW* pf, int pfRows = 4)
        where TS : struct, ISimd<TV> where TV : struct where TW : unmanaged
    {
        TW* w0 = w, w1 = w0 + wStride, w2 = w1 + wStride, w3 = w2 + wStride;
        TV a00 = TS.Zero, a01 = TS.Zero, a02 = TS.Zero, a03 = TS.Zero;
        TV a10 = TS.Zero, a11 = TS.Zero, a12 = TS.Zero, a13 = TS.Zero;
        TV a20 = TS.Zero, a21 = TS.Zero, a22 = TS.Zero, a23 = TS.Zero;
        TV a30 = TS.Zero, a31 = TS.Zero, a32 = TS.Zero, a33 = TS.Zero;
        int width = TS.Width, vectorEnd = length - length % width, i = 0;
        for (; i < vectorEnd; i += width)
        {
            for (int p = 0; p < pfRows; p++) Simd.Prefetch<TS, TV, TW>(pf + p * wStride + i);
            TV v0 = TS.Load(x0 + i), v1 = TS.Load(x1 + i), v2 = TS.Load(x2 + i), v3 = TS.Load(x3 + i);
            TV b = Simd.LoadWeights<TS, TV, TW>(w0 + i);
            a00 = TS.Fma(v0, b, a00); a10 = TS.Fma(v1, b, a10); a20 = TS.Fma(v2, b, a20); a30 = TS.Fma(v3, b, a30);
            b = Simd.LoadWeights<TS, TV, TW>(w1 + i);
            a01 = TS.Fma(v0, b, a01); a11 = TS.Fma(v1, b, a11); a21 = TS.Fma(v2, b, a21); a31 = TS.Fma(v3, b, a31);
            b = Simd.LoadWeights<TS, TV, TW>(w2 + i);
            a02 = TS.Fma(v0, b, a02); a12 = TS.Fma(v1, b, a12); a22 = TS.Fma(v2, b, a22); a32 = TS.Fma(v3, b, a32);
            b = Simd.LoadWeights<TS, TV, TW>(w3 + i);
            a03 = TS.Fma(v0, b, a03); a13 = TS.Fma(v1, b, a13); a23 = TS.Fma(v2, b, a23); a33 = TS.Fma(v3, b, a33);
        }
        TS.Sum4(a00, a01, a02, a03).Store(r);
        TS.Sum4(a10, a11, a12, a13).Store(r + 4);
        TS.Sum4(a20, a21, a22, a23).Store(r + 8);
        TS.Sum4(a30, a31, a32, a33).Store(r + 12);
        for (; i < length; i++)
        {
            float b0 = Simd.ToFloat(w0 + i), b1 = Simd.ToFloat(w1 + i), b2 = Simd.ToFloat(w2 + i), b3 = Simd.ToFloat(w3 + i);
            float v0 = x0[i], v1 = x1[i], v2 = x2[i], v3 = x3[i];
            r[0] += v0 * b0; r[1] += v0 * b1; r[2] += v0 * b2; r[3] += v0 * b3;
            r[4] += v1 * b0; r[5] += v1 * b1; r[6] += v1 * b2; r[7] += v1 * b3;
            r[8] += v2 * b0; r[9] += v2 * b1; r[10] += v2 * b2; r[11] += v2 * b3;
            r[12] += v3 * b0; r[13] += v3 * b1; r[14] += v3 * b2; r[15] += v3 * b3;
        }
    }

    /// <summary>1 token × 4 weight rows; r[j]. The decode (matrix-vector) kernel. Prefetches the first
    /// <paramref name="pfRows"/> rows at pf, as Dot4x4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot1x4<TS, TV, TW>(float* x, TW* w, nint wStride, int length, float* r, TW* pf, int pfRows = 4)
        where TS : struct, ISimd<TV> where TV : struct where TW : unmanaged
    {
        TW* w0 = w, w1 = w0 + wStride, w2 = w1 + wStride, w3 = w2 + wStride;
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero;
        TV c0 = TS.Zero, c1 = TS.Zero, c2 = TS.Zero, c3 = TS.Zero;
        int width = TS.Width, i = 0;
        // Two vectors per step so 8 FMA chains hide FMA latency.
        for (; i <= length - 2 * width; i += 2 * width)
        {
            for (int p = 0; p < pfRows; p++)
            {
                Simd.Prefetch<TS, TV, TW>(pf + p * wStride + i);
                Simd.Prefetch<TS, TV, TW>(pf + p * wStride + i + width);
            }
            TV v = TS.Load(x + i), u = TS.Load(x + i + width);
            a0 = TS.Fma(v, Simd.LoadWeights<TS, TV, TW>(w0 + i), a0);
            a1 = TS.Fma(v, Simd.LoadWeights<TS, TV, TW>(w1 + i), a1);
            a2 = TS.Fma(v, Simd.LoadWeights<TS, TV, TW>(w2 + i), a2);
            a3 = TS.Fma(v, Simd.LoadWeights<TS, TV, TW>(w3 + i), a3);
            c0 = TS.Fma(u, Simd.LoadWeights<TS, TV, TW>(w0 + i + width), c0);
            c1 = TS.Fma(u, Simd.LoadWeights<TS, TV, TW>(w1 + i + width), c1);
            c2 = TS.Fma(u, Simd.LoadWeights<TS, TV, TW>(w2 + i + width), c2);
            c3 = TS.Fma(u, Simd.LoadWeights<TS, TV, TW>(w3 + i + width), c3);
        }
        for (; i <= length - width; i += width)
        {
            TV v = TS.Load(x + i);
            a0 = TS.Fma(v, Simd.LoadWeights<TS, TV, TW>(w0 + i), a0);
            a1 = TS.Fma(v, Simd.LoadWeights<TS, TV, TW>(w1 + i), a1);
            a2 = TS.Fma(v, Simd.LoadWeights<TS, TV, TW>(w2 + i), a2);
            a3 = TS.Fma(v, Simd.LoadWeights<TS, TV, TW>(w3 + i), a3);
        }
        TS.Sum4(TS.Add(a0, c0), TS.Add(a1, c1), TS.Add(a2, c2), TS.Add(a3, c3)).Store(r);
        for (; i < length; i++)
        {
            float v = x[i];
            r[0] += v * Simd.ToFloat(w0 + i); r[1] += v * Simd.ToFloat(w1 + i);
            r[2] += v * Simd.ToFloat(w2 + i); r[3] += v * Simd.ToFloat(w3 + i);
        }
    }

    /// <summary>One dot product.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot1x1<TS, TV, TW>(float* x, TW* w, int length)
        where TS : struct, ISimd<TV> where TV : struct where TW : unmanaged
    {
        TV a0 = TS.Zero, a1 = TS.Zero;
        int width = TS.Width, i = 0;
        for (; i <= length - 2 * width; i += 2 * width)
        {
            a0 = TS.Fma(TS.Load(x + i), Simd.LoadWeights<TS, TV, TW>(w + i), a0);
            a1 = TS.Fma(TS.Load(x + i + width), Simd.LoadWeights<TS, TV, TW>(w + i + width), a1);
        }
        for (; i <= length - width; i += width)
            a0 = TS.Fma(TS.Load(x + i), Simd.LoadWeights<TS, TV, TW>(w + i), a0);
        float sum = TS.Sum(TS.Add(a0, a1));
        for (; i < length; i++) sum += x[i] * Simd.ToFloat(w + i);
        return sum;
    }

    /// <summary>
    /// out[t·outStride + j] (+)= Σ x_t·w_j for a block of tokens × rows: 4×4 tiles (a last partial tile of 2–3
    /// tokens repeats a token row, so every weight row is still read once per 4 tokens), 1×4 for a single
    /// token, 1×1 for the last rows. The token tiles of a 4-row block share the prefetch of the next block
    /// (or of nextRows after the last one), a slice each.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DotBlock<TS, TV, TW>(float* x, nint xStride, int tokens, TW* w, nint wStride, int rows,
                                            int length, float* output, nint outStride, bool add, TW* nextRows = null)
        where TS : struct, ISimd<TV> where TV : struct where TW : unmanaged
    {
        float* r = stackalloc float[16];
        int rowQuadEnd = rows & ~3, tiles = (tokens + 3) / 4;
        for (int j = 0; j < rowQuadEnd; j += 4)
        {
            TW* wj = w + j * wStride;
            TW* next = j + 4 < rowQuadEnd ? wj + 4 * wStride : nextRows != null ? nextRows : wj;
            for (int tile = 0, t = 0; t < tokens; tile++, t += 4)
            {
                int n = Math.Min(4, tokens - t);
                float* xt = x + t * xStride;
                // Tile k of K prefetches rows [4k/K, 4(k+1)/K) of the next block.
                int pfFirst = 4 * tile / tiles, pfRows = 4 * (tile + 1) / tiles - pfFirst;
                TW* pf = next + pfFirst * wStride;
                if (n == 1) Dot1x4<TS, TV, TW>(xt, wj, wStride, length, r, pf, pfRows);
                else Dot4x4<TS, TV, TW>(xt, xt + xStride, xt + Math.Min(2, n - 1) * xStride, xt + (n - 1) * xStride, wj, wStride, length, r,
                                        pf, pfRows);
                for (int a = 0; a < n; a++) Put(output + (t + a) * outStride + j, r + (n == 1 ? 0 : a * 4), 1, add);
            }
        }
        for (int j = rowQuadEnd; j < rows; j++)
            for (int t = 0; t < tokens; t++)
                PutOne(output + t * outStride + j, Dot1x1<TS, TV, TW>(x + t * xStride, w + j * wStride, length), add);
    }

    /// <summary>
    /// One token: out[j] (+)= x·w_j. Each 1×4 tile takes rows j, j+q, j+2q, j+3q (q = rows/4), so the thread
    /// streams four far-apart parts of W at once (more DRAM pages and prefetch streams in flight: a plain read
    /// loop on the 2-core Zen 4 draws 15–30% more with four streams than with one). No software prefetch here:
    /// the hardware prefetchers follow four sequential streams by themselves, and the hints cost 5–10% of
    /// bandwidth (measured: 99–106% of the read probe without them, ~92% with them). Only for one token: with
    /// more, the four rows alias in L1 with the token rows (all 4 KiB apart) and the 4×4 tiles' re-reads miss
    /// (~10% slower at 8 tokens), and there the prefetch is what overlaps DRAM with arithmetic.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DotStreams<TS, TV, TW>(float* x, TW* w, nint wStride, int rows, int length, float* output, bool add)
        where TS : struct, ISimd<TV> where TV : struct where TW : unmanaged
    {
        float* r = stackalloc float[4];
        int q = rows / 4;
        nint streamStride = q * wStride;
        for (int j = 0; j < q; j++)
        {
            TW* wj = w + j * wStride;
            Dot1x4<TS, TV, TW>(x, wj, streamStride, length, r, wj, pfRows: 0);
            Put(output + j, r, q, add);
        }
        for (int j = 4 * q; j < rows; j++) PutOne(output + j, Dot1x1<TS, TV, TW>(x, w + j * wStride, length), add);
    }

    /// <summary>o[k·step] (+)= r[k] for k &lt; 4.</summary>
    static void Put(float* o, float* r, nint step, bool add)
    {
        if (add) { o[0] += r[0]; o[step] += r[1]; o[2 * step] += r[2]; o[3 * step] += r[3]; }
        else { o[0] = r[0]; o[step] = r[1]; o[2 * step] = r[2]; o[3 * step] = r[3]; }
    }

    static void PutOne(float* o, float value, bool add) => *o = add ? *o + value : value;
}
