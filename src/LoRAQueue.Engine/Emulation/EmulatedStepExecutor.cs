using System.Diagnostics;
using LoRAQueue.Formats;

namespace LoRAQueue.Engine;

/// <summary>
/// The emulated forward pass: prices the step the scheduler formed (<see cref="StepShapeBuilder"/>, the twin's construction)
/// with the backend's cost model, picks each sampling sequence's next token (<see cref="EmulatedTokens"/>), and sleeps until
/// the step's deadline: its start (so the engine's bookkeeping in the step counts against the price) plus the price, or, when
/// it follows a busy step, that step's deadline plus the price (see <see cref="EmulatedBackend.MaxCatchUp"/>). Holds no
/// weights and no KV memory: only the block accounting, for the same number of blocks the CPU backend would allocate.
/// </summary>
internal sealed class EmulatedStepExecutor : IStepExecutor
{
    private readonly EmulatedBackend _backend;
    private readonly EmulatedTokens _tokens;
    private readonly StepShapeBuilder _shapes = new();
    private readonly long _maxCatchUp;
    private long _previousDeadline;

    public EmulatedStepExecutor(ModelConfig config, EngineOptions options, EmulatedBackend backend, EmulatedTokens tokens)
    {
        _backend = backend;
        _tokens = tokens;
        _maxCatchUp = Ticks(backend.MaxCatchUp);
        Blocks = new KvBlockPool(PagedKvCache.BlockCount(config, options.BlockSize, options.KvCacheBytes), options.BlockSize);
    }

    public KvBlockPool Blocks { get; }

    public TimeSpan? Execute(in PlannedStep step, Span<int> nextTokens)
    {
        var modelled = _backend.Cost.StepTime(_shapes.Build(step.Scheduled), _backend.Kernel);
        for (int i = 0; i < step.Ordered.Length; i++)
        {
            if (step.LogitsRows[i] < 0) continue;
            var sequence = step.Ordered[i].Sequence;
            nextTokens[i] = _tokens.At(EmulatedTokens.SeedOf(sequence.Request), sequence.OutputCount);
        }

        long anchor = step.StartTimestamp;
        if (step.FollowsBusyStep && _previousDeadline != 0)
        {
            long behind = step.StartTimestamp - _previousDeadline; // the previous step's lateness, carried into this one
            anchor = behind > _maxCatchUp ? step.StartTimestamp - _maxCatchUp : Math.Min(step.StartTimestamp, _previousDeadline);
            if (behind > _maxCatchUp) Interlocked.Add(ref _lostTicks, behind - _maxCatchUp);
        }
        long deadline = anchor + Ticks(modelled);
        DeadlineSleep.Until(deadline);
        _previousDeadline = deadline;
        Interlocked.Add(ref _modelledTicks, modelled.Ticks);
        return modelled;
    }

    private long _lostTicks, _modelledTicks;

    /// <summary>Time the steps ran behind the model and did not make up (lateness beyond <see cref="EmulatedBackend.MaxCatchUp"/>
    /// carried into a following step): a CPU-starved machine shows here.</summary>
    public TimeSpan LostTime => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _lostTicks));

    /// <summary>The sum of every step's modelled time.</summary>
    public TimeSpan ModelledTime => TimeSpan.FromTicks(Interlocked.Read(ref _modelledTicks));

    private static long Ticks(TimeSpan time) => (long)Math.Round(time.TotalSeconds * Stopwatch.Frequency);

    public void Dispose() { }
}
