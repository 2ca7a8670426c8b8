using LoRAQueue.Formats;

namespace LoRAQueue.Engine;

/// <summary>Activation buffers for one step, allocated once for MaxBatchTokens tokens so steps allocate nothing.</summary>
internal sealed class ForwardBuffers
{
    public readonly float[] X;        // residual stream [tokens, hidden]
    public readonly float[] XNorm;    // normalized input of a sublayer [tokens, hidden]
    public readonly float[] Q;        // [tokens, heads * headDim]
    public readonly float[] K;        // [tokens, kvHeads * headDim]
    public readonly float[] V;        // [tokens, kvHeads * headDim]
    public readonly float[] Attention;// [tokens, heads * headDim]
    public readonly float[] Gate;     // [tokens, intermediate]
    public readonly float[] Up;       // [tokens, intermediate]
    public readonly float[] RopeCos;  // [tokens, headDim / 2]
    public readonly float[] RopeSin;
    public readonly float[] LogitsInput; // [sequences, hidden]
    public readonly float[] Logits;      // [sequences, vocab]
    public readonly float[][] Scores;    // per attention worker: [query heads, max context]
    public readonly long[][] KvRows;     // per attention worker: [max context] offsets of K/V rows in the cache
    public float[] LoraShrink { get; private set; } = []; // [tokens, max rank]

    public int MaxTokens { get; }

    public ForwardBuffers(ModelConfig c, int maxTokens, int maxSequences, int maxContext, int attentionWorkers)
    {
        MaxTokens = maxTokens;
        int qDim = c.NumAttentionHeads * c.HeadDim, kvDim = c.NumKeyValueHeads * c.HeadDim;
        X = new float[maxTokens * c.HiddenSize];
        XNorm = new float[maxTokens * c.HiddenSize];
        Q = new float[maxTokens * qDim];
        K = new float[maxTokens * kvDim];
        V = new float[maxTokens * kvDim];
        Attention = new float[maxTokens * qDim];
        Gate = new float[(long)maxTokens * c.IntermediateSize];
        Up = new float[(long)maxTokens * c.IntermediateSize];
        RopeCos = new float[maxTokens * c.HeadDim / 2];
        RopeSin = new float[maxTokens * c.HeadDim / 2];
        int logitsRows = Math.Min(maxSequences, maxTokens);
        LogitsInput = new float[logitsRows * c.HiddenSize];
        Logits = new float[(long)logitsRows * c.VocabSize];
        Scores = new float[attentionWorkers][];
        KvRows = new long[attentionWorkers][];
        for (int i = 0; i < attentionWorkers; i++)
        {
            Scores[i] = new float[(long)c.NumAttentionHeads * maxContext];
            KvRows[i] = new long[maxContext];
        }
    }

    /// <summary>Grows the LoRA shrink buffer when a batch first uses a larger rank (not per step).</summary>
    public void EnsureLoraRank(int rank)
    {
        if (LoraShrink.Length < MaxTokens * rank)
            LoraShrink = new float[MaxTokens * rank];
    }
}
