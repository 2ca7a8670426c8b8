namespace LoRAQueue.Engine;

internal readonly record struct ScheduledSequence(Sequence Sequence, int TokenCount);

/// <summary>Iteration-level (continuous batching) scheduler over a paged KV cache, after vLLM:
/// every step, running decodes come first (one token each, oldest first), then running prefills (chunked to the
/// step's token budget), then waiting requests are admitted in arrival order while their whole prompt's blocks
/// are free. When a decode needs a block and none is free, the youngest running sequence is preempted: its blocks
/// are freed and it goes back to the waiting queue to be recomputed later.</summary>
internal sealed class Scheduler(KvBlockPool cache, EngineOptions options)
{
    private readonly List<Sequence> _waiting = [];  // by arrival; preempted sequences return to their place
    private readonly List<Sequence> _running = [];  // by arrival

    /// <summary>This step's work, filled by <see cref="Schedule"/>.</summary>
    public List<ScheduledSequence> Scheduled { get; } = [];
    public int PreemptedThisStep { get; private set; }

    public int RunningCount => _running.Count;
    public int WaitingCount => _waiting.Count;
    public IReadOnlyList<Sequence> Running => _running;
    public IReadOnlyList<Sequence> Waiting => _waiting;

    public void Enqueue(Sequence sequence) => InsertByArrival(_waiting, sequence);

    public void Schedule()
    {
        Scheduled.Clear();
        PreemptedThisStep = 0;
        int budget = options.MaxBatchTokens;

        // 1. Decodes: one token per running sequence; make room for its next KV slot, preempting if needed.
        for (int i = 0; i < _running.Count && budget > 0; i++)
        {
            var sequence = _running[i];
            if (!IsDecoding(sequence)) continue;
            bool preemptedItself = false;
            while (!cache.TryGrow(sequence.Blocks, sequence.ComputedCount + 1))
            {
                var victim = _running[^1]; // youngest; never one already scheduled (those sit before index i)
                Preempt(victim);
                if (victim == sequence) { preemptedItself = true; break; }
            }
            if (preemptedItself) break;
            Add(sequence, 1, ref budget);
        }

        // 2. Running prefills (prompt, or prompt + outputs after preemption), chunked to the budget.
        for (int i = 0; i < _running.Count && budget > 0; i++)
        {
            var sequence = _running[i];
            if (IsDecoding(sequence) || sequence.Remaining == 0) continue;
            Add(sequence, Math.Min(sequence.Remaining, budget), ref budget);
        }

        // 3. Admissions, oldest first, while the whole prompt's blocks are free. Not in a step that had to
        //    preempt: memory is short, admitting now would only preempt again.
        while (PreemptedThisStep == 0 && _waiting.Count > 0 && budget > 0 && _running.Count < options.MaxSequences)
        {
            var sequence = _waiting[0];
            if (!cache.TryGrow(sequence.Blocks, sequence.TokenCount)) break;
            _waiting.RemoveAt(0);
            sequence.IsRunning = true;
            InsertByArrival(_running, sequence);
            Add(sequence, Math.Min(sequence.Remaining, budget), ref budget);
        }
    }

    /// <summary>Removes a finished or cancelled sequence and frees its blocks.</summary>
    public void Remove(Sequence sequence)
    {
        if (sequence.IsRunning) _running.Remove(sequence);
        else _waiting.Remove(sequence);
        sequence.IsRunning = false;
        cache.Release(sequence.Blocks);
    }

    /// <summary>Decoding = it has outputs and only the newest sampled token still needs its K/V.</summary>
    private static bool IsDecoding(Sequence s) => s.OutputCount > 0 && s.Remaining == 1;

    private void Add(Sequence sequence, int tokens, ref int budget)
    {
        if (sequence.FirstScheduledAt == 0) sequence.FirstScheduledAt = System.Diagnostics.Stopwatch.GetTimestamp();
        Scheduled.Add(new ScheduledSequence(sequence, tokens));
        budget -= tokens;
    }

    /// <summary>vLLM recompute preemption: drop the KV cache, keep the tokens, recompute on readmission.</summary>
    private void Preempt(Sequence sequence)
    {
        _running.Remove(sequence);
        sequence.IsRunning = false;
        cache.Release(sequence.Blocks);
        sequence.ComputedCount = 0;
        sequence.Preemptions++;
        PreemptedThisStep++;
        InsertByArrival(_waiting, sequence);
    }

    private static void InsertByArrival(List<Sequence> list, Sequence sequence)
    {
        int i = list.Count;
        while (i > 0 && list[i - 1].Arrival > sequence.Arrival) i--;
        list.Insert(i, sequence);
    }
}
