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

    /// <summary>Output tokens generated since the start (the reporter turns deltas into tokens/s).</summary>
    public long OutputTokens => Interlocked.Read(ref _outputTokens);
}
