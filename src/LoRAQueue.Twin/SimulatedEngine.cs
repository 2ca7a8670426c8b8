using System.Runtime.InteropServices;
using LoRAQueue.Core.Costs;
using LoRAQueue.Engine;

namespace LoRAQueue.Twin;

/// <summary>
/// One worker's engine with the forward pass taken out: the engine's own continuous-batching <c>Scheduler</c> (admission,
/// chunked prefill, decode first, recompute preemption) over a <c>KvBlockPool</c> of the accelerator's block count. A
/// step is planned by the real scheduler, priced by the cost model, and completed as the engine completes it: computed
/// tokens advance, sequences that reach their prompt's end sample one token, and a sequence that has its output length
/// finishes (the twin replays recorded output lengths, so there is no EOS).
/// </summary>
public sealed class SimulatedEngine
{
    private readonly KvBlockPool _blocks;
    private readonly Scheduler _scheduler;
    private readonly Dictionary<Sequence, TwinJob> _jobs = [];
    private readonly StepShapeBuilder _shapes = new();
    private readonly List<(Sequence Sequence, int Tokens)> _step = [];
    private long _arrivals;

    public SimulatedEngine(int kvBlocks, int blockSize, int maxBatchTokens, int maxSequences)
    {
        _blocks = new KvBlockPool(kvBlocks, blockSize);
        _scheduler = new Scheduler(_blocks, new EngineOptions { BlockSize = blockSize, MaxBatchTokens = maxBatchTokens, MaxSequences = maxSequences });
        MaxContextTokens = kvBlocks * blockSize;
    }

    public int MaxContextTokens { get; }
    public int Unfinished => _jobs.Count;
    public int Waiting => _scheduler.WaitingCount;
    public bool HasWork => _scheduler.RunningCount + _scheduler.WaitingCount > 0;
    public int KvBlocksUsed => _blocks.UsedBlocks;

    /// <summary>Hands a job to the engine; false when it could never fit in the KV cache (the live engine refuses it too).</summary>
    public bool Submit(TwinJob job)
    {
        var r = job.Request;
        int output = Math.Max(1, r.OutputTokens);
        if (_blocks.BlocksFor(r.InputTokens + output) > _blocks.NumBlocks) return false;
        var request = new GenerationRequest(r.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), new int[Math.Max(1, r.InputTokens)],
                                            r.AdapterId, MaxTokens: output);
        var sequence = new Sequence(request, adapter: null, _arrivals++, _blocks.BlockSize)
        {
            AdapterKey = r.AdapterId, AdapterRank = r.AdapterId is null ? 0 : r.Rank,
        };
        _jobs[sequence] = job;
        _scheduler.Enqueue(sequence);
        return true;
    }

    /// <summary>Schedules the next step and returns what it computes (<c>StepShapeBuilder</c>: the shape the emulated backend
    /// prices too); null when nothing can run.</summary>
    public StepShape? PlanStep()
    {
        _scheduler.Schedule();
        _step.Clear();
        foreach (var (sequence, tokens) in _scheduler.Scheduled) _step.Add((sequence, tokens));
        return _step.Count == 0 ? null : _shapes.Build(CollectionsMarshal.AsSpan(_scheduler.Scheduled));
    }

    /// <summary>Completes the planned step at <paramref name="now"/>; calls <paramref name="finished"/> for each job that ended.</summary>
    public void CompleteStep(double now, Action<TwinJob> finished)
    {
        foreach (var (sequence, tokens) in _step)
        {
            sequence.ComputedCount += tokens;
            if (sequence.ComputedCount < sequence.TokenCount) continue; // mid-prompt chunk
            sequence.Append(1);
            var job = _jobs[sequence];
            job.FirstTokenSeconds ??= now;
            if (sequence.OutputCount < sequence.Request.MaxTokens) continue;
            _scheduler.Remove(sequence);
            _jobs.Remove(sequence);
            job.FinishedSeconds = now;
            job.OutputTokens = sequence.OutputCount;
            job.Preemptions = sequence.Preemptions;
            finished(job);
        }
        _step.Clear();
    }
}
