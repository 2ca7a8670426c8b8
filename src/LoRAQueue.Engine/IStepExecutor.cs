using LoRAQueue.Formats;

namespace LoRAQueue.Engine;

/// <summary>One planned step, as the engine hands it to its <see cref="IStepExecutor"/>: the scheduler's sequences (scheduler
/// order), the same in batch order (grouped by adapter, as <paramref name="Batch"/> lays their tokens out) with the logits row
/// each one samples from (−1: a mid-prompt chunk, nothing to sample), when the step began (a <c>Stopwatch</c> timestamp), and
/// whether it follows a step that left work, so that it starts as soon as that one ends.</summary>
internal readonly ref struct PlannedStep(
    ReadOnlySpan<ScheduledSequence> scheduled, ReadOnlySpan<ScheduledSequence> ordered, ReadOnlySpan<int> logitsRows,
    StepBatch batch, long startTimestamp, bool followsBusyStep)
{
    public ReadOnlySpan<ScheduledSequence> Scheduled { get; } = scheduled;
    public ReadOnlySpan<ScheduledSequence> Ordered { get; } = ordered;
    public ReadOnlySpan<int> LogitsRows { get; } = logitsRows;
    public StepBatch Batch { get; } = batch;
    public long StartTimestamp { get; } = startTimestamp;
    public bool FollowsBusyStep { get; } = followsBusyStep;
}

/// <summary>
/// The engine's one seam: what turns a planned step into next tokens. Everything around it — admission, continuous batching,
/// KV block accounting and preemption (through <see cref="Blocks"/>), adapter slots, the batch layout, stop conditions,
/// timings — is the engine's own code whichever executor runs. <see cref="CpuStepExecutor"/> runs the forward pass and
/// samples; <see cref="EmulatedStepExecutor"/> waits out the cost model's price of the step and emits deterministic tokens.
/// </summary>
internal interface IStepExecutor : IDisposable
{
    /// <summary>The KV blocks the scheduler admits and preempts against.</summary>
    KvBlockPool Blocks { get; }

    /// <summary>Runs the step; for each i with <c>step.LogitsRows[i] ≥ 0</c> writes the next token of <c>step.Ordered[i]</c>'s
    /// sequence into <paramref name="nextTokens"/>[i] (the sequence's outputs so far are unchanged until the engine appends it).
    /// Returns the step's modelled time, or null when the step really computed.</summary>
    TimeSpan? Execute(in PlannedStep step, Span<int> nextTokens);
}

/// <summary>The reference backend: the Llama forward pass on the CPU over the paged KV cache, then sampling.</summary>
internal sealed class CpuStepExecutor : IStepExecutor
{
    private readonly PagedKvCache _cache;
    private readonly ForwardBuffers _buffers;
    private readonly ForwardPass _forward;
    private readonly Sampler _sampler;
    private readonly int _vocab;

    public CpuStepExecutor(LlamaModel model, EngineOptions options, StepBatch batch)
    {
        var config = model.Config;
        _cache = new PagedKvCache(config, options.BlockSize, options.KvCacheBytes);
        try
        {
            int maxContext = (int)Math.Min(config.MaxPositionEmbeddings, (long)_cache.NumBlocks * _cache.BlockSize);
            _buffers = new ForwardBuffers(config, options.MaxBatchTokens, options.MaxSequences, maxContext,
                                          LoRAQueue.Kernels.WorkerPool.Shared.ThreadCount);
            _forward = new ForwardPass(model, batch, _buffers, _cache, options.LoraKernel);
            _sampler = new Sampler(config.VocabSize);
            _vocab = config.VocabSize;
        }
        catch
        {
            _cache.Dispose();
            throw;
        }
    }

    public KvBlockPool Blocks => _cache;

    public TimeSpan? Execute(in PlannedStep step, Span<int> nextTokens)
    {
        _forward.Run();
        for (int i = 0; i < step.Ordered.Length; i++)
        {
            int row = step.LogitsRows[i];
            if (row < 0) continue;
            var sequence = step.Ordered[i].Sequence;
            var logits = _buffers.Logits.AsSpan(row * _vocab, _vocab);
            nextTokens[i] = _sampler.Sample(logits, sequence.Sampling, sequence.Seed, sequence.OutputCount);
            sequence.Logits?.Add(logits.ToArray());
        }
        return null;
    }

    public void Dispose() => _cache.Dispose();
}
