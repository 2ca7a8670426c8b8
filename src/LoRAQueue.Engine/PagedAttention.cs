using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using LoRAQueue.Kernels;

namespace LoRAQueue.Engine;

/// <summary>Causal grouped-query attention of one step over the paged KV cache: softmax(q·Kᵀ/√d)·V per query head.
/// Decode attention is bound by reading K and V, so a work item is one token and a range of its KV heads, and it
/// walks the cached positions in order reading each K and V row (all of the range's heads, contiguous) once for
/// every query head that uses it (GQA). Items are spread over the kernel worker pool, each worker taking every n-th
/// item so the causal triangle's long and short rows mix; a lone token's KV heads are split so both cores read.</summary>
internal sealed unsafe class PagedAttention(LlamaModel model, StepBatch batch, ForwardBuffers buffers, PagedKvCache cache)
{
    private readonly int _heads = model.Config.NumAttentionHeads;
    private readonly int _kvHeads = model.Config.NumKeyValueHeads;
    private readonly int _group = model.Config.NumAttentionHeads / model.Config.NumKeyValueHeads;
    private readonly int _headDim = model.Config.HeadDim;
    private readonly int? _window = model.Config.SlidingWindow;
    private readonly float _scale = 1f / MathF.Sqrt(model.Config.HeadDim);

    /// <summary>Below this many (query head, position) pairs attention runs on the calling thread:
    /// a pool dispatch would cost more than the work.</summary>
    private const long SerialHeadPositions = 512;

    /// <summary>Reads Q of the step's tokens from buffers.Q and writes buffers.Attention; the step's own K and V
    /// must already be in the cache.</summary>
    public void Run(int layer, int tokens)
    {
        long positions = 0;
        for (int t = 0; t < tokens; t++) positions += batch.Positions[t] + 1;
        int workers = positions * _heads < SerialHeadPositions ? 1 : buffers.Scores.Length;
        int parts = tokens >= workers ? 1 : Math.Min(_kvHeads, workers);
        var work = new Work(this, layer, tokens * parts, parts, workers);
        if (workers == 1) work.Execute(0);
        else WorkerPool.Shared.Run(workers, ref work);
    }

    private readonly struct Work(PagedAttention attention, int layer, int items, int parts, int workers) : IParallelBody
    {
        public void Execute(int worker) => attention.AttendItems(layer, worker, workers, items, parts);
    }

    private void AttendItems(int layer, int worker, int workers, int items, int parts)
    {
        fixed (float* scores = buffers.Scores[worker])
        fixed (long* rows = buffers.KvRows[worker])
        fixed (float* q = buffers.Q, output = buffers.Attention)
            for (int item = worker; item < items; item += workers)
            {
                int token = item / parts, part = item % parts;
                int firstKvHead = part * _kvHeads / parts, kvHeadEnd = (part + 1) * _kvHeads / parts;
                Attend(layer, token, firstKvHead, kvHeadEnd, q, output, scores, rows);
            }
    }

    /// <summary>Query heads of KV heads [firstKvHead, kvHeadEnd) of one token. scores: [heads, context]; rows: [context].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Attend(int layer, int token, int firstKvHead, int kvHeadEnd, float* q, float* output, float* scores, long* rows)
    {
        int position = batch.Positions[token];
        int first = _window is int window ? Math.Max(0, position - window + 1) : 0;
        int count = position - first + 1;
        RowOffsets(batch.Sequences[batch.RowSequence[token]].BlockTable, first, count, firstKvHead * _headDim, rows);

        // Query heads of KV head h are h·group … h·group + group − 1: the range's query heads are adjacent too.
        int heads = (kvHeadEnd - firstKvHead) * _group;
        long headOffset = ((long)token * _heads + firstKvHead * _group) * _headDim;
        Scores(q + headOffset, cache.Keys(layer), cache.Values(layer), rows, count, heads, scores);
        // Softmax numerators for all heads in one vectorized Exp (per-head calls on short rows cost more in
        // call overhead and scalar tails than the math); WeightedValues divides by the sums.
        for (int h = 0; h < heads; h++)
        {
            var s = new Span<float>(scores + h * count, count);
            TensorPrimitives.Subtract(s, TensorPrimitives.Max(s), s);
        }
        var all = new Span<float>(scores, heads * count);
        TensorPrimitives.Exp(all, all);
        WeightedValues(scores, cache.Values(layer), rows, count, heads, output + headOffset);
    }

    /// <summary>rows[i] = offset of position first + i's K/V row in the layer arrays, plus headOffset; a block
    /// at a time (slots of a block are adjacent rows).</summary>
    private void RowOffsets(int[] table, int first, int count, long headOffset, long* rows)
    {
        int blockSize = cache.BlockSize, end = first + count;
        for (int p = first; p < end;)
        {
            long offset = cache.RowOffset(table, p) + headOffset;
            int slotsLeft = Math.Min(blockSize - p % blockSize, end - p);
            for (int i = 0; i < slotsLeft; i++, p++, offset += cache.KvDim) rows[p - first] = offset;
        }
    }

    /// <summary>scores[h·count + p] = q_h · K_p[h / group] / √d, position by position so each K row is read once.
    /// The K and V rows a few positions ahead are prefetched (V for WeightedValues): a sequence's blocks lie
    /// scattered over the cache and the hardware prefetcher starts over at every block; without this, in-step
    /// attention at batch 32 ran ~2.5× slower than on cached rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Scores(float* q, float* keys, float* values, long* rows, int count, int heads, float* scores)
    {
        const int Ahead = 4;
        int rowFloats = heads / _group * _headDim;
        for (int p = 0; p < Math.Min(Ahead, count); p++) { Prefetch(keys + rows[p], rowFloats); Prefetch(values + rows[p], rowFloats); }
        for (int p = 0; p < count; p++)
        {
            if (p + Ahead < count) { Prefetch(keys + rows[p + Ahead], rowFloats); Prefetch(values + rows[p + Ahead], rowFloats); }
            float* k = keys + rows[p];
            for (int h = 0; h < heads; h++)
                scores[h * count + p] = Dot(q + h * _headDim, k + h / _group * _headDim, _headDim) * _scale;
        }
    }

    /// <summary>out_h = Σ_p e[h·count + p] · V_p[h / group] / Σ_p e[h·count + p] (e: softmax numerators), position
    /// by position so each V row is read once; the outputs (heads × headDim floats) stay in L1 meanwhile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WeightedValues(float* scores, float* values, long* rows, int count, int heads, float* output)
    {
        new Span<float>(output, heads * _headDim).Clear();
        int width = Vector<float>.Count;
        for (int p = 0; p < count; p++)
        {
            float* v = values + rows[p];
            for (int h = 0; h < heads; h++)
            {
                float weight = scores[h * count + p];
                float* vh = v + h / _group * _headDim, o = output + h * _headDim;
                int d = 0;
                for (var w = new Vector<float>(weight); d + width <= _headDim; d += width)
                    Vector.FusedMultiplyAdd(w, Vector.Load(vh + d), Vector.Load(o + d)).Store(o + d);
                for (; d < _headDim; d++) o[d] += weight * vh[d];
            }
        }
        for (int h = 0; h < heads; h++)
        {
            var o = new Span<float>(output + h * _headDim, _headDim);
            TensorPrimitives.Divide(o, TensorPrimitives.Sum(new ReadOnlySpan<float>(scores + h * count, count)), o);
        }
    }

    /// <summary>Hints the cache lines of floats [p, p + count) into L1 (no-op off x86).</summary>
    private static void Prefetch(float* p, int count)
    {
        if (!Sse.IsSupported) return;
        for (int i = 0; i < count; i += 16) Sse.Prefetch0(p + i);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(float* a, float* b, int n)
    {
        int width = Vector<float>.Count, i = 0;
        Vector<float> even = default, odd = default;
        for (; i + 2 * width <= n; i += 2 * width)
        {
            even = Vector.FusedMultiplyAdd(Vector.Load(a + i), Vector.Load(b + i), even);
            odd = Vector.FusedMultiplyAdd(Vector.Load(a + i + width), Vector.Load(b + i + width), odd);
        }
        float sum = Vector.Sum(even + odd);
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }
}
