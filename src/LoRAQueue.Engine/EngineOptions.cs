using LoRAQueue.Kernels;

namespace LoRAQueue.Engine;

public sealed class EngineOptions
{
    /// <summary>Memory for the paged KV cache (all layers, K and V, F32). Sets the number of blocks.</summary>
    public long KvCacheBytes { get; init; } = 256L << 20;

    /// <summary>Tokens per KV block.</summary>
    public int BlockSize { get; init; } = 16;

    /// <summary>Token budget of one step (prefill chunks + decodes); activation buffers are sized for it.</summary>
    public int MaxBatchTokens { get; init; } = 512;

    /// <summary>Most sequences running at once.</summary>
    public int MaxSequences { get; init; } = 64;

    public IMultiLoraKernel LoraKernel { get; init; } = MultiLoraKernels.Segmented;

    internal void Validate()
    {
        if (BlockSize <= 0) throw new ArgumentException($"BlockSize must be positive (got {BlockSize}).");
        if (MaxBatchTokens <= 0) throw new ArgumentException($"MaxBatchTokens must be positive (got {MaxBatchTokens}).");
        if (MaxSequences <= 0) throw new ArgumentException($"MaxSequences must be positive (got {MaxSequences}).");
        if (KvCacheBytes <= 0) throw new ArgumentException($"KvCacheBytes must be positive (got {KvCacheBytes}).");
        ArgumentNullException.ThrowIfNull(LoraKernel);
    }
}
