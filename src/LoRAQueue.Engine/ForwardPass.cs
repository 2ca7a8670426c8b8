using System.Numerics.Tensors;
using LoRAQueue.Kernels;

namespace LoRAQueue.Engine;

/// <summary>The Llama forward pass over one step's tokens, llama2.c style, top to bottom:
/// embed → per layer [RMSNorm → q,k,v (+LoRA) → RoPE → KV cache → attention → o (+LoRA) → residual →
/// RMSNorm → gate,up (+LoRA) → SwiGLU → down (+LoRA) → residual] → final RMSNorm → lm_head (only rows that sample).
/// Tokens of many sequences share every matrix multiply; only attention looks at sequences one by one.</summary>
internal sealed unsafe class ForwardPass(LlamaModel model, StepBatch batch, ForwardBuffers buffers, PagedKvCache cache, IMultiLoraKernel lora)
{
    private readonly int _hidden = model.Config.HiddenSize;
    private readonly int _heads = model.Config.NumAttentionHeads;
    private readonly int _kvHeads = model.Config.NumKeyValueHeads;
    private readonly int _headDim = model.Config.HeadDim;
    private readonly int _ffn = model.Config.IntermediateSize;
    private readonly float _eps = (float)model.Config.RmsNormEps;
    private readonly float[] _invFrequencies = RopeFrequencies(model.Config.HeadDim, model.Config.RopeTheta);
    private readonly PagedAttention _attention = new(model, batch, buffers, cache);

    /// <summary>Runs the step; logits of batch.LogitsCount rows land in buffers.Logits.</summary>
    public void Run()
    {
        int tokens = batch.TokenCount;
        int qDim = _heads * _headDim, kvDim = _kvHeads * _headDim;
        var x = buffers.X.AsSpan(0, tokens * _hidden);        // residual stream
        var xn = buffers.XNorm.AsSpan(0, tokens * _hidden);   // normalized sublayer input
        var q = buffers.Q.AsSpan(0, tokens * qDim);
        var k = buffers.K.AsSpan(0, tokens * kvDim);
        var v = buffers.V.AsSpan(0, tokens * kvDim);
        var att = buffers.Attention.AsSpan(0, tokens * qDim);
        var gate = buffers.Gate.AsSpan(0, tokens * _ffn);
        var up = buffers.Up.AsSpan(0, tokens * _ffn);
        if (batch.MaxAdapterRank > 0) buffers.EnsureLoraRank(batch.MaxAdapterRank);

        for (int t = 0; t < tokens; t++)
            EmbedToken(batch.TokenIds[t], x.Slice(t * _hidden, _hidden));
        RopeAngles(tokens);

        for (int l = 0; l < model.Layers.Length; l++)
        {
            var layer = model.Layers[l];

            // Attention block: x += o_proj(attention(rope(q), rope(k), v))
            RmsNorm(x, layer.AttentionNorm, xn, tokens);
            Linear(xn, tokens, l, LinearModule.Q, q);
            Linear(xn, tokens, l, LinearModule.K, k);
            Linear(xn, tokens, l, LinearModule.V, v);
            ApplyRope(q, tokens, _heads);
            ApplyRope(k, tokens, _kvHeads);
            StoreKeyValues(l, k, v, tokens);
            _attention.Run(l, tokens);
            Linear(att, tokens, l, LinearModule.O, x, accumulate: true);

            // MLP block: x += down_proj(silu(gate_proj(xn)) * up_proj(xn))
            RmsNorm(x, layer.FeedForwardNorm, xn, tokens);
            Linear(xn, tokens, l, LinearModule.Gate, gate);
            Linear(xn, tokens, l, LinearModule.Up, up);
            SwiGlu(gate, up);
            Linear(gate, tokens, l, LinearModule.Down, x, accumulate: true);
        }

        // Final norm and lm_head, only for the last token of sequences that sample this step.
        int rows = batch.LogitsCount;
        if (rows == 0) return;
        var last = buffers.LogitsInput.AsSpan(0, rows * _hidden);
        for (int i = 0; i < rows; i++)
            RmsNormRow(x.Slice(batch.LogitsSourceRows[i] * _hidden, _hidden), model.FinalNorm, last.Slice(i * _hidden, _hidden));
        var lmHead = model.LmHead;
        Gemm.MatMulTransposed(last, rows, lmHead, buffers.Logits.AsSpan(0, rows * model.Config.VocabSize));
    }

    /// <summary>output (+)= input·Wᵀ (+ bias), then each adapter segment adds s·(input·Aᵀ)·Bᵀ for its own rows.</summary>
    private void Linear(ReadOnlySpan<float> input, int tokens, int layer, int module, Span<float> output, bool accumulate = false)
    {
        var weights = model.Layers[layer].Linear[module];
        int outDim = weights.Rows;
        var y = output[..(tokens * outDim)];
        Gemm.MatMulTransposed(input[..(tokens * weights.Cols)], tokens, weights, y, model.Layers[layer].Bias[module], accumulate);

        var segments = batch.Segments(layer, module, out int rank);
        if (segments.IsEmpty) return;
        var shrunk = buffers.LoraShrink.AsSpan(0, tokens * rank);
        lora.Shrink(input[..(tokens * weights.Cols)], weights.Cols, segments, shrunk, rank);
        lora.Expand(shrunk, rank, segments, y, outDim);
    }

    private void EmbedToken(int token, Span<float> row)
    {
        var e = model.Embedding;
        if (e.Type == WeightType.F32)
        {
            new ReadOnlySpan<float>((float*)e.Data + (long)token * e.Cols, e.Cols).CopyTo(row);
            return;
        }
        ushort* bf16 = (ushort*)e.Data + (long)token * e.Cols;
        for (int i = 0; i < row.Length; i++)
            row[i] = BitConverter.Int32BitsToSingle(bf16[i] << 16);
    }

    private void RmsNorm(ReadOnlySpan<float> x, float[] weight, Span<float> output, int tokens)
    {
        for (int t = 0; t < tokens; t++)
            RmsNormRow(x.Slice(t * _hidden, _hidden), weight, output.Slice(t * _hidden, _hidden));
    }

    /// <summary>out = x / sqrt(mean(x²) + eps) · weight</summary>
    private void RmsNormRow(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> output)
    {
        float meanSquare = TensorPrimitives.SumOfSquares(x) / x.Length;
        float inverseRms = 1f / MathF.Sqrt(meanSquare + _eps);
        TensorPrimitives.Multiply(x, inverseRms, output);
        TensorPrimitives.Multiply(output, weight, output);
    }

    /// <summary>HF inv_freq: 1 / theta^(2i / headDim), in F32 as transformers computes it.</summary>
    private static float[] RopeFrequencies(int headDim, double theta)
    {
        var inv = new float[headDim / 2];
        for (int i = 0; i < inv.Length; i++)
            inv[i] = 1f / MathF.Pow((float)theta, 2 * i / (float)headDim);
        return inv;
    }

    /// <summary>cos/sin of position·inv_freq for every token of the step (shared by all layers and heads).</summary>
    private void RopeAngles(int tokens)
    {
        int half = _headDim / 2;
        for (int t = 0; t < tokens; t++)
        {
            float position = batch.Positions[t];
            for (int i = 0; i < half; i++)
            {
                float angle = position * _invFrequencies[i];
                buffers.RopeCos[t * half + i] = MathF.Cos(angle);
                buffers.RopeSin[t * half + i] = MathF.Sin(angle);
            }
        }
    }

    /// <summary>HF rotate_half RoPE: dimension i pairs with i + headDim/2 (halves, not interleaved pairs).</summary>
    private void ApplyRope(Span<float> vectors, int tokens, int heads)
    {
        int half = _headDim / 2;
        for (int t = 0; t < tokens; t++)
        {
            var cos = buffers.RopeCos.AsSpan(t * half, half);
            var sin = buffers.RopeSin.AsSpan(t * half, half);
            for (int h = 0; h < heads; h++)
            {
                var head = vectors.Slice((t * heads + h) * _headDim, _headDim);
                for (int i = 0; i < half; i++)
                {
                    float x1 = head[i], x2 = head[i + half];
                    head[i] = x1 * cos[i] - x2 * sin[i];
                    head[i + half] = x2 * cos[i] + x1 * sin[i];
                }
            }
        }
    }

    /// <summary>Writes this step's K and V rows into each sequence's cache blocks (before attention reads them).</summary>
    private void StoreKeyValues(int layer, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int tokens)
    {
        int kvDim = _kvHeads * _headDim;
        for (int t = 0; t < tokens; t++)
        {
            int[] table = batch.Sequences[batch.RowSequence[t]].BlockTable;
            int position = batch.Positions[t];
            k.Slice(t * kvDim, kvDim).CopyTo(new Span<float>(cache.KeyAt(layer, table, position), kvDim));
            v.Slice(t * kvDim, kvDim).CopyTo(new Span<float>(cache.ValueAt(layer, table, position), kvDim));
        }
    }

    /// <summary>gate = silu(gate) · up, with silu(z) = z · sigmoid(z). Big steps split it over the kernel pool
    /// (a 32-token decode step has 90k elements per layer: ~1.5 ms a step on one core).</summary>
    private static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        const int SerialElements = 32 * 1024;   // below this a pool dispatch costs about what it saves
        int parts = gate.Length < SerialElements ? 1 : WorkerPool.Shared.ThreadCount * 2;
        if (parts == 1)
        {
            VectorOps.SiluMul(gate, up, gate);
            return;
        }
        fixed (float* g = gate, u = up)
        {
            var work = new SwiGluWork(g, u, gate.Length, parts);
            WorkerPool.Shared.Run(parts, ref work);
        }
    }

    private readonly struct SwiGluWork(float* gate, float* up, int length, int parts) : IParallelBody
    {
        public void Execute(int part)
        {
            int start = (int)((long)length * part / parts), end = (int)((long)length * (part + 1) / parts);
            var g = new Span<float>(gate + start, end - start);
            VectorOps.SiluMul(g, new ReadOnlySpan<float>(up + start, end - start), g);
        }
    }
}
