namespace LoRAQueue.Kernels;

/// <summary>Dense x·Wᵀ with F32 or BF16 weights, SIMD and multi-threaded.</summary>
public static unsafe class Gemm
{
    /// <summary>
    /// From this many tokens on, the packed (outer-product) path is used. Measured on the 2-core Zen 4 with the
    /// medium preset's shapes, row dots (4×4 tiles) beat it from 32 to 128 tokens (~205–220 vs 165–200 GFLOP/s)
    /// and match it around 256; the packed path stays for long prefill chunks, where its panel reuse keeps the
    /// activations' traffic (re-read once per 4 weight rows by the row dots) out of L3.
    /// </summary>
    internal const int PackedMinTokens = 256;

    /// <summary>
    /// y[t, o] (+)= Σ_i x[t, i] · W[o, i] (+ bias[o]); x: [tokens, W.Cols], y: [tokens, W.Rows].
    /// Below <see cref="PackedMinTokens"/> (decode, short prefill chunks) W is streamed once with row dots;
    /// from there on (long prefill chunks) W panels are packed and tokens × outputs register-blocked.
    /// Output rows are split across threads in contiguous chunks.
    /// </summary>
    public static void MatMulTransposed(ReadOnlySpan<float> x, int tokens, in WeightMatrix w, Span<float> y,
                                        ReadOnlySpan<float> bias = default, bool accumulate = false)
        => MatMulTransposed(x, tokens, w, y, bias, accumulate, Simd.Best, tokens >= PackedMinTokens, WorkerPool.Shared);

    internal static void MatMulTransposed(ReadOnlySpan<float> x, int tokens, in WeightMatrix w, Span<float> y,
                                          ReadOnlySpan<float> bias, bool accumulate, SimdWidth width, bool packed, WorkerPool pool)
    {
        if (w.Data == null) throw new ArgumentException("weight matrix is empty (default)", nameof(w));
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        if (x.Length < (long)tokens * w.Cols)
            throw new ArgumentException($"x has {x.Length} floats, needs tokens×in = {tokens}×{w.Cols}", nameof(x));
        if (y.Length < (long)tokens * w.Rows)
            throw new ArgumentException($"y has {y.Length} floats, needs tokens×out = {tokens}×{w.Rows}", nameof(y));
        if (!bias.IsEmpty && bias.Length != w.Rows)
            throw new ArgumentException($"bias has {bias.Length} floats, expected {w.Rows}", nameof(bias));
        if (tokens == 0) return;
        fixed (float* xp = x, yp = y, bp = bias)
        {
            var context = new GemmContext
            {
                X = xp, W = w.Data, Y = yp, Bias = bias.IsEmpty ? null : bp, Tokens = tokens, Rows = w.Rows, Cols = w.Cols,
                Accumulate = accumulate, Width = width, Type = w.Type,
            };
            if (packed)
            {
                context.RowsPerUnit = GemmPacked.StripRows;
                pool.Run(DivUp(w.Rows, GemmPacked.StripRows), &GemmPacked.RunUnit, &context);
            }
            else
            {
                // A few contiguous chunks per thread so one slow thread does not hold up the call.
                int units = Math.Max(1, Math.Min(pool.ThreadCount * 4, w.Rows / 64));
                context.RowsPerUnit = (DivUp(w.Rows, units) + 3) & ~3;
                pool.Run(DivUp(w.Rows, context.RowsPerUnit), &GemmRowDot.RunUnit, &context);
            }
        }
        w.KeepAlive();
    }

    internal static int DivUp(int a, int b) => (a + b - 1) / b;

    /// <summary>Sets y[t, rows] to its starting value: bias or 0, or (accumulate) y + bias.</summary>
    internal static void InitOutput(in GemmContext c, int rowStart, int rowCount)
    {
        for (int t = 0; t < c.Tokens; t++)
        {
            var y = new Span<float>(c.Y + (long)t * c.Rows + rowStart, rowCount);
            if (c.Bias == null) { if (!c.Accumulate) y.Clear(); continue; }
            var bias = new ReadOnlySpan<float>(c.Bias + rowStart, rowCount);
            if (c.Accumulate) System.Numerics.Tensors.TensorPrimitives.Add(y, bias, y);
            else bias.CopyTo(y);
        }
    }
}

internal unsafe struct GemmContext
{
    public float* X;
    public void* W;
    public float* Y;
    public float* Bias;
    public int Tokens, Rows, Cols, RowsPerUnit;
    public bool Accumulate;
    public SimdWidth Width;
    public WeightType Type;
}
