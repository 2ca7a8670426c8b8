using System.Diagnostics;
using System.Runtime.InteropServices;

namespace LoRAQueue.Engine;

public sealed partial class InferenceEngine
{
    private ScheduledSequence[] _ordered = [];
    private int[] _orderedLogitsRows = [];
    private int[] _nextTokens = [];
    private bool _previousStepLeftWork;

    /// <summary>One iteration: admit, schedule (decodes, prefill chunks, new prompts), lay the batch out, have the executor run
    /// the step (the forward pass and sampling; or, emulated, a wait of the cost model's price and deterministic tokens), and
    /// finish sequences that hit EOS, a stop string or their token limit.</summary>
    public StepStats Step()
    {
        lock (_stepLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            long start = Stopwatch.GetTimestamp();
            DrainIncoming();
            int finished = FinishCancelled();

            _scheduler.Schedule();
            var scheduled = _scheduler.Scheduled;
            int prefilled = 0, decoded = 0;
            TimeSpan? modelled = null;
            if (scheduled.Count > 0)
            {
                OrderByAdapter(scheduled);
                BuildBatch(scheduled.Count, out prefilled, out decoded);
                int count = scheduled.Count;
                modelled = _executor.Execute(new PlannedStep(CollectionsMarshal.AsSpan(scheduled), _ordered.AsSpan(0, count),
                    _orderedLogitsRows.AsSpan(0, count), _batch, start, _previousStepLeftWork), _nextTokens.AsSpan(0, count));
                finished += AppendAndFinish(count);
            }
            // The next step starts as soon as this one ends when work is left (RunAsync waits only when there is none).
            _previousStepLeftWork = scheduled.Count > 0 && HasWork;

            return new StepStats(prefilled, decoded, _scheduler.RunningCount, _scheduler.WaitingCount + _incoming.Count,
                _cache.UsedBlocks, _cache.FreeBlocks, Stopwatch.GetElapsedTime(start))
            {
                SequencesFinished = finished,
                SequencesPreempted = _scheduler.PreemptedThisStep,
                ModelledStepTime = modelled,
            };
        }
    }

    /// <summary>Stable sort of the step's sequences by adapter (base model first), so each adapter's tokens form one
    /// contiguous segment for the multi-LoRA kernels. Insertion sort: a few dozen entries, no allocation.</summary>
    private void OrderByAdapter(List<ScheduledSequence> scheduled)
    {
        if (_ordered.Length < scheduled.Count)
        {
            _ordered = new ScheduledSequence[Math.Max(scheduled.Count, 2 * _ordered.Length)];
            _orderedLogitsRows = new int[_ordered.Length];
            _nextTokens = new int[_ordered.Length];
        }
        for (int i = 0; i < scheduled.Count; i++)
        {
            var item = scheduled[i];
            int key = item.Sequence.Adapter?.Slot ?? 0;
            int j = i;
            while (j > 0 && (_ordered[j - 1].Sequence.Adapter?.Slot ?? 0) > key)
            {
                _ordered[j] = _ordered[j - 1];
                j--;
            }
            _ordered[j] = item;
        }
    }

    private void BuildBatch(int count, out int prefilled, out int decoded)
    {
        prefilled = decoded = 0;
        _batch.Clear();
        for (int i = 0; i < count; i++)
        {
            var (sequence, tokens) = _ordered[i];
            bool samples = sequence.ComputedCount + tokens == sequence.TokenCount;
            if (sequence.OutputCount > 0 && sequence.Remaining == 1) decoded += tokens;
            else prefilled += tokens;
            _orderedLogitsRows[i] = _batch.AddSequence(sequence.Pending(tokens), sequence.ComputedCount,
                sequence.Blocks.Blocks, sequence.Adapter, samples);
        }
    }

    /// <summary>Advances every scheduled sequence past the step's tokens; each one that sampled takes the executor's token
    /// and is finished on EOS, a stop string or its token limit.</summary>
    private int AppendAndFinish(int count)
    {
        int finished = 0;
        for (int i = 0; i < count; i++)
        {
            var (sequence, tokens) = _ordered[i];
            sequence.ComputedCount += tokens;
            if (_orderedLogitsRows[i] < 0) continue; // mid-prompt chunk: nothing sampled yet

            int token = _nextTokens[i];
            sequence.Append(token);
            if (sequence.FirstTokenAt == 0) sequence.FirstTokenAt = Stopwatch.GetTimestamp();

            if (CheckFinished(sequence, token, out var reason, out var text))
            {
                Finish(sequence, reason, text);
                finished++;
            }
        }
        return finished;
    }

    private bool CheckFinished(Sequence sequence, int token, out FinishReason reason, out string? text)
    {
        var request = sequence.Request;
        text = null;
        reason = FinishReason.Length;
        if (!request.IgnoreEos && Array.IndexOf(_eosTokenIds, token) >= 0)
        {
            reason = FinishReason.Eos;
            return true;
        }
        if (request.StopStrings is { Count: > 0 } stops && FindStop(sequence, stops, out text))
        {
            reason = FinishReason.Stop;
            return true;
        }
        return sequence.OutputCount >= request.MaxTokens;
    }

    /// <summary>Decodes the output so far and looks for a stop string in the part not yet scanned;
    /// on a hit, <paramref name="text"/> is the output text cut before the earliest stop string.</summary>
    private bool FindStop(Sequence sequence, IReadOnlyList<string> stops, out string? text)
    {
        string decoded = _tokenizer!.Decode(sequence.Outputs.ToArray());
        int cut = -1, longest = 0;
        foreach (var stop in stops)
        {
            longest = Math.Max(longest, stop.Length);
            int at = decoded.IndexOf(stop, Math.Min(sequence.StopScanFrom, decoded.Length), StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        // A stop string may straddle the next token's text: rescan the last (longest − 1) characters next time.
        sequence.StopScanFrom = Math.Max(0, decoded.Length - longest + 1);
        text = cut >= 0 ? decoded[..cut] : null;
        return cut >= 0;
    }

    private int FinishCancelled()
    {
        if (Volatile.Read(ref _cancelRequests) == 0) return 0;
        Interlocked.Exchange(ref _cancelRequests, 0);
        int finished = 0;
        foreach (var sequence in SnapshotUnfinished())
        {
            if (!sequence.CancelRequested) continue;
            Finish(sequence, FinishReason.Cancelled, text: null);
            finished++;
        }
        return finished;
    }

    private void Finish(Sequence sequence, FinishReason reason, string? text)
    {
        _scheduler.Remove(sequence);
        sequence.CancelRegistration.Dispose();
        text ??= DecodeOutput(sequence, reason);
        long now = Stopwatch.GetTimestamp();
        var timings = new RequestTimings(
            Wait: Elapsed(sequence.SubmittedAt, sequence.FirstScheduledAt == 0 ? now : sequence.FirstScheduledAt),
            TimeToFirstToken: sequence.FirstTokenAt == 0 ? TimeSpan.Zero : Elapsed(sequence.SubmittedAt, sequence.FirstTokenAt),
            TimePerOutputToken: sequence.OutputCount > 1 ? Elapsed(sequence.FirstTokenAt, now) / (sequence.OutputCount - 1) : TimeSpan.Zero,
            Total: Elapsed(sequence.SubmittedAt, now));
        var result = new GenerationResult(sequence.Request.Id, sequence.Outputs.ToArray(), text, reason, timings,
            sequence.PromptLength, sequence.Logits)
        {
            Preemptions = sequence.Preemptions,
        };
        Interlocked.Decrement(ref _unfinished);
        sequence.Completion.TrySetResult(result);
    }

    private string DecodeOutput(Sequence sequence, FinishReason reason)
    {
        if (_tokenizer is null) return "";
        var outputs = sequence.Outputs;
        if (reason == FinishReason.Eos && outputs.Length > 0) outputs = outputs[..^1]; // the EOS token has no text
        return _tokenizer.Decode(outputs.ToArray());
    }

    private static TimeSpan Elapsed(long from, long to) => Stopwatch.GetElapsedTime(from, to);
}
