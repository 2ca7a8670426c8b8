using LoRAQueue.Core.Costs;

namespace LoRAQueue.Engine;

/// <summary>
/// What a scheduled step computes, as the step cost model sees it (<see cref="StepShape"/>): the one construction that both
/// the digital twin (<c>SimulatedEngine</c>) and the emulated backend (<see cref="EmulatedStepExecutor"/>) price, so a
/// step the real scheduler forms costs the same in both. Read the scheduled sequences before the step completes:
/// <list type="bullet">
/// <item>decode tokens: a sequence with outputs whose only pending token is its newest one (as the engine counts them);
/// every other scheduled token (a prompt chunk, a recompute after preemption) is a prefill token;</item>
/// <item>KV tokens read: each sequence's context once the step has written its tokens (computed + scheduled);</item>
/// <item>LoRA segments: one per adapter (<see cref="Sequence.AdapterKey"/>), as the engine lays a batch out so each adapter's
/// tokens are contiguous, at that adapter's rank (<see cref="Sequence.AdapterRank"/>; the base model is rank 0).</item>
/// </list>
/// Reuses its scratch lists; one builder per engine.
/// </summary>
internal sealed class StepShapeBuilder
{
    private readonly List<LoraSegment> _segments = [];
    private readonly List<object?> _keys = [];

    public StepShape Build(ReadOnlySpan<ScheduledSequence> scheduled)
    {
        _segments.Clear();
        _keys.Clear();
        int prefill = 0, decode = 0;
        long kvRead = 0;
        foreach (var (s, tokens) in scheduled)
        {
            if (s.OutputCount > 0 && s.Remaining == 1) decode += tokens;
            else prefill += tokens;
            kvRead += s.ComputedCount + tokens;
            int i = _keys.IndexOf(s.AdapterKey);
            if (i >= 0)
            {
                _segments[i] = _segments[i] with { Tokens = _segments[i].Tokens + tokens };
                continue;
            }
            _keys.Add(s.AdapterKey);
            _segments.Add(new LoraSegment(tokens, s.AdapterKey is null ? 0 : s.AdapterRank));
        }
        return new StepShape(prefill, decode, kvRead, [.. _segments]);
    }
}
