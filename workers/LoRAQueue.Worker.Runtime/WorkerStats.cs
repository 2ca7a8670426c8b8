namespace LoRAQueue.Worker;

/// <summary>Counters the consumer updates and the load reporter reads; all thread-safe.</summary>
public sealed class WorkerStats
{
    private int _inEngine;
    private long _outputTokens;

    /// <summary>Jobs handed to the engine and not finished yet.</summary>
    public int InEngine => Volatile.Read(ref _inEngine);

    public void Submitted() => Interlocked.Increment(ref _inEngine);

    public void Finished(int outputTokens)
    {
        Interlocked.Decrement(ref _inEngine);
        Interlocked.Add(ref _outputTokens, outputTokens);
    }

    /// <summary>Raised (on the consumer's thread) for every job that completed; the Redis reporter records demand and
    /// operating points from it. Handlers must be quick and must not throw.</summary>
    public event Action<CompletedJobSample>? JobCompleted;

    public void Completed(CompletedJobSample sample) => JobCompleted?.Invoke(sample);

    /// <summary>Output tokens generated since the start (the reporter turns deltas into tokens/s).</summary>
    public long OutputTokens => Interlocked.Read(ref _outputTokens);
}

/// <summary>One completed job as the load state needs it: whose tokens, from which rank queue (null = lora-base), how
/// many, how fast it decoded and how many jobs the engine held when it finished (including itself). DemandRecorded: the
/// producer counted the job's demand already (<c>SubmitJob.DemandRecorded</c>).</summary>
public sealed record CompletedJobSample(string? AdapterId, int? Bucket, int PromptTokens, int OutputTokens, TimeSpan TimePerOutputToken,
                                        int JobsInEngine, bool DemandRecorded = false);
