using System.Diagnostics;

namespace LoRAQueue.Engine;

/// <summary>Engine-side state of one request. Tokens holds prompt then outputs; the first ComputedCount of them
/// have K/V in the cache. Prefill, decode and recompute after preemption are all "compute the tokens not yet
/// computed, then sample when none are left".</summary>
internal sealed class Sequence
{
    private readonly int[] _tokens;

    public GenerationRequest Request { get; }
    public LoadedAdapter? Adapter { get; }
    /// <summary>What makes the sequence's tokens one LoRA segment with others' (the loaded adapter; the twin, which loads
    /// none, sets the adapter id) and that adapter's rank (0: the base model), as <see cref="StepShapeBuilder"/> reads them.</summary>
    public object? AdapterKey { get; init; }
    public int AdapterRank { get; init; }
    public SamplingParams Sampling { get; }
    public ulong Seed { get; }
    /// <summary>Submission order: smaller is older (FCFS priority; the youngest is preempted first).</summary>
    public long Arrival { get; }
    public BlockTable Blocks { get; }
    public TaskCompletionSource<GenerationResult> Completion { get; } =
        new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int PromptLength { get; }
    public int TokenCount { get; private set; }
    public int OutputCount => TokenCount - PromptLength;
    public int ComputedCount { get; set; }
    public int Remaining => TokenCount - ComputedCount;
    public bool IsRunning { get; set; }
    public int Preemptions { get; set; }
    public volatile bool CancelRequested;
    public CancellationTokenRegistration CancelRegistration { get; set; }

    public List<float[]>? Logits { get; }
    /// <summary>Where to resume scanning the decoded text for stop strings.</summary>
    public int StopScanFrom { get; set; }

    public long SubmittedAt { get; } = Stopwatch.GetTimestamp();
    public long FirstScheduledAt { get; set; }
    public long FirstTokenAt { get; set; }

    public Sequence(GenerationRequest request, LoadedAdapter? adapter, long arrival, int blockSize)
    {
        Request = request;
        Adapter = adapter;
        AdapterKey = adapter;
        AdapterRank = adapter?.MaxRank ?? 0;
        Arrival = arrival;
        Sampling = request.Sampling ?? SamplingParams.Greedy;
        Seed = Sampling.Seed ?? (ulong)Random.Shared.NextInt64();
        PromptLength = request.PromptTokens.Count;
        _tokens = new int[PromptLength + request.MaxTokens];
        for (int i = 0; i < PromptLength; i++) _tokens[i] = request.PromptTokens[i];
        TokenCount = PromptLength;
        Blocks = new BlockTable((_tokens.Length + blockSize - 1) / blockSize);
        if (request.CaptureLogits) Logits = [];
    }

    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, TokenCount);
    public ReadOnlySpan<int> Outputs => _tokens.AsSpan(PromptLength, OutputCount);
    public ReadOnlySpan<int> Pending(int count) => _tokens.AsSpan(ComputedCount, count);

    public void Append(int token) => _tokens[TokenCount++] = token;
}
