using System.Buffers;
using System.Runtime.CompilerServices;

namespace LoRAQueue.Kernels;

/// <summary>
/// Runs a multi-LoRA shrink or expand as independent work units, each (segment, token chunk, rank-row or
/// column block), spread over the worker pool so small segments do not serialise behind large ones.
/// With <c>paddedRank</c> &gt; 0 every adapter is replaced by its zero-padded copy at that rank (the padded
/// kernel); the units then do the padded FLOPs and read the padded memory.
/// </summary>
internal static unsafe class LoraBatchRunner
{
    const int TokensPerUnit = 32;         // x rows of a unit (512 KB at in = 4096) stay in L2 while its weight rows stream
    const int RankRowsPerUnit = 16;
    const int ExpandUnitMacs = 1 << 17;   // columns per expand unit are sized to about this much work   // columns per expand unit are sized to about this much work

    struct Unit
    {
        public float* Weights;
        public int TokenStart, TokenCount, Start, Count, Depth;
        public float Scale;
    }

    struct Context
    {
        public float* Input, Output;
        public int InStride, OutStride;
        public Unit* Units;
        public long Claims;   // next unit from the front (low 32 bits) and end of the unclaimed range (high 32 bits)
        public bool IsExpand;
        public SimdWidth Width;
    }

    public static void Shrink(ReadOnlySpan<float> x, int inDim, ReadOnlySpan<LoraSegment> segments, Span<float> v, int vStride,
                              int paddedRank, SimdWidth width, WorkerPool pool)
    {
        int count = 0;
        foreach (var s in segments)
            if (s.Module is not null && s.Length > 0)
                count += Chunks(s.Length, TokensPerUnit) * Chunks(paddedRank > 0 ? paddedRank : s.Module.Rank, RankRowsPerUnit);
        if (count == 0) return;
        var units = ArrayPool<Unit>.Shared.Rent(count);
        try
        {
            int n = 0;
            foreach (var s in segments)
            {
                if (s.Module is null || s.Length == 0) continue;
                var weights = paddedRank > 0 ? PaddedWeightCache.Get(s.Module, paddedRank) : s.Module;
                int tokenChunk = ChunkSize(s.Length, TokensPerUnit), rowChunk = ChunkSize(weights.Rank, RankRowsPerUnit);
                for (int t = 0; t < s.Length; t += tokenChunk)
                    for (int r = 0; r < weights.Rank; r += rowChunk)
                        units[n++] = new Unit
                        {
                            Weights = weights.APointer + (long)r * inDim, TokenStart = s.Start + t, TokenCount = Math.Min(tokenChunk, s.Length - t),
                            Start = r, Count = Math.Min(rowChunk, weights.Rank - r), Depth = inDim,
                        };
            }
            fixed (float* xp = x, vp = v)
                Execute(units, n, new Context { Input = xp, Output = vp, InStride = inDim, OutStride = vStride, Width = width }, pool);
        }
        finally
        {
            ArrayPool<Unit>.Shared.Return(units);
        }
    }

    public static void Expand(ReadOnlySpan<float> v, int vStride, ReadOnlySpan<LoraSegment> segments, Span<float> y, int outDim,
                              int paddedRank, SimdWidth width, WorkerPool pool)
    {
        int count = 0;
        foreach (var s in segments)
            if (s.Module is not null && s.Length > 0)
                count += Chunks(s.Length, TokensPerUnit) * Chunks(outDim, ColumnChunk(s.Length, paddedRank > 0 ? paddedRank : s.Module.Rank, outDim));
        if (count == 0) return;
        var units = ArrayPool<Unit>.Shared.Rent(count);
        try
        {
            int n = 0;
            foreach (var s in segments)
            {
                if (s.Module is null || s.Length == 0) continue;
                var weights = paddedRank > 0 ? PaddedWeightCache.Get(s.Module, paddedRank) : s.Module;
                int tokenChunk = ChunkSize(s.Length, TokensPerUnit);
                int columnChunk = ChunkSize(outDim, ColumnChunk(s.Length, weights.Rank, outDim), LoraModuleWeights.PanelWidth);
                for (int t = 0; t < s.Length; t += tokenChunk)
                    for (int c = 0; c < outDim; c += columnChunk)
                        units[n++] = new Unit
                        {
                            Weights = weights.BTPanelsPointer, TokenStart = s.Start + t, TokenCount = Math.Min(tokenChunk, s.Length - t),
                            Start = c, Count = Math.Min(columnChunk, outDim - c), Depth = weights.Rank, Scale = weights.Scale,
                        };
            }
            fixed (float* vp = v, yp = y)
                Execute(units, n, new Context { Input = vp, Output = yp, InStride = vStride, OutStride = outDim, IsExpand = true, Width = width }, pool);
        }
        finally
        {
            ArrayPool<Unit>.Shared.Return(units);
        }
    }

    /// <summary>
    /// Units with many tokens are compute bound; units with few tokens are bound by reading their weights.
    /// Units are sorted by token count; even participants claim from the front (heavy first), odd ones from
    /// the back (light first), so one thread streams weights while another computes, until they meet.
    /// </summary>
    static void Execute(Unit[] units, int count, Context context, WorkerPool pool)
    {
        SortByTokenCountDescending(units, count);
        fixed (Unit* up = units)
        {
            context.Units = up;
            context.Claims = (long)count << 32;
            pool.Run(Math.Min(pool.ThreadCount, count), &RunParticipant, &context);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunParticipant(void* context, int participant)
    {
        ref Context c = ref *(Context*)context;
        bool fromBack = (participant & 1) == 1;
        while (true)
        {
            long claims = Volatile.Read(ref c.Claims);
            int front = (int)claims, back = (int)(claims >> 32);
            if (front >= back) return;
            long next = fromBack ? claims - (1L << 32) : claims + 1;
            if (Interlocked.CompareExchange(ref c.Claims, next, claims) != claims) continue;
            ref Unit u = ref c.Units[fromBack ? back - 1 : front];
            switch (c.Width, c.IsExpand)
            {
                case (SimdWidth.V512, false): Shrink<Simd512, Vector512<float>>(ref c, ref u); break;
                case (SimdWidth.V512, true): Expand<Simd512, Vector512<float>>(ref c, ref u); break;
                case (SimdWidth.V256, false): Shrink<Simd256, Vector256<float>>(ref c, ref u); break;
                case (SimdWidth.V256, true): Expand<Simd256, Vector256<float>>(ref c, ref u); break;
                case (_, false): Shrink<Simd128, Vector128<float>>(ref c, ref u); break;
                default: Expand<Simd128, Vector128<float>>(ref c, ref u); break;
            }
        }
    }

    /// <summary>One shrink unit: v[t, rows] = x_t · A[rows]ᵀ, register-blocked 4 tokens × 4 rank rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Shrink<TS, TV>(ref Context c, ref Unit u) where TS : struct, ISimd<TV> where TV : struct
    {
        float* x = c.Input + (long)u.TokenStart * c.InStride;
        float* v = c.Output + (long)u.TokenStart * c.OutStride + u.Start;
        DotKernels.DotBlock<TS, TV, float>(x, c.InStride, u.TokenCount, u.Weights, u.Depth, u.Count, u.Depth, v, c.OutStride, add: false);
    }

    /// <summary>One expand unit: its columns are whole Bᵀ panels, each streamed once and reused by every token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Expand<TS, TV>(ref Context c, ref Unit u) where TS : struct, ISimd<TV> where TV : struct
    {
        const int Panel = LoraModuleWeights.PanelWidth;
        float* v = c.Input + (long)u.TokenStart * c.InStride;
        float* y = c.Output + (long)u.TokenStart * c.OutStride;
        long panelSize = (long)u.Depth * Panel;
        for (int col = u.Start; col < u.Start + u.Count; col += Panel)
        {
            float* panel = u.Weights + col / Panel * panelSize;
            float* next = col + Panel < u.Start + u.Count ? panel + panelSize : null;
            OuterKernels.AccumulateBlock<TS, TV>(v, c.InStride, u.TokenCount, u.Depth, panel, Panel,
                                                 Math.Min(Panel, u.Start + u.Count - col), u.Scale, y + col, c.OutStride, next);
        }
    }

    /// <summary>Counting sort: token counts are at most TokensPerUnit.</summary>
    static void SortByTokenCountDescending(Unit[] units, int count)
    {
        Span<int> starts = stackalloc int[TokensPerUnit + 2];
        for (int i = 0; i < count; i++) starts[TokensPerUnit - units[i].TokenCount + 1]++;
        for (int b = 1; b < starts.Length; b++) starts[b] += starts[b - 1];
        var sorted = ArrayPool<Unit>.Shared.Rent(count);
        for (int i = 0; i < count; i++) sorted[starts[TokensPerUnit - units[i].TokenCount]++] = units[i];
        Array.Copy(sorted, units, count);
        ArrayPool<Unit>.Shared.Return(sorted);
    }

    static int Chunks(int length, int target) => (length + target - 1) / target;

    /// <summary>Splits length into at most Chunks(length, target) near-equal pieces, each a multiple of align (a power of 2).</summary>
    static int ChunkSize(int length, int target, int align = 4)
    {
        int pieces = Chunks(length, target);
        int size = ((length + pieces - 1) / pieces + align - 1) & ~(align - 1);
        return Math.Min(size, length);
    }

    static int ColumnChunk(int tokens, int rank, int outDim)
    {
        long work = (long)Math.Min(tokens, TokensPerUnit) * rank;
        return (int)Math.Min(outDim, Math.Max(256, ExpandUnitMacs / work));
    }
}
