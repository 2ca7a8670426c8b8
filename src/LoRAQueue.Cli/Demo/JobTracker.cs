using System.Collections.Concurrent;
using LoRAQueue.Contracts;
using LoRAQueue.History;

namespace LoRAQueue.Cli.Demo;

/// <summary>
/// The demo's job history: records through to the in-memory history and counts, thread-safely, what the recorder
/// has seen so the progress loop can read it without querying. Each job counts once however often its events are
/// delivered; the first terminal event wins, as in the history.
/// </summary>
internal sealed class JobTracker(IJobHistory inner) : IJobHistory
{
    private readonly ConcurrentDictionary<Guid, byte> _started = new();
    private readonly ConcurrentDictionary<Guid, bool> _finished = new(); // true = completed
    private readonly ConcurrentDictionary<string, int> _completedByWorker = new(StringComparer.Ordinal);

    public int Started => _started.Count;
    public int Finished => _finished.Count;
    public int Failed => _finished.Count(kv => !kv.Value);
    public int CompletedBy(string worker) => _completedByWorker.GetValueOrDefault(worker);

    public Task RecordQueuedAsync(IReadOnlyList<QueuedJobRecord> jobs, CancellationToken ct) => inner.RecordQueuedAsync(jobs, ct);

    public async Task RecordStartedAsync(JobStarted e, CancellationToken ct)
    {
        await inner.RecordStartedAsync(e, ct);
        _started.TryAdd(e.JobId, 0);
    }

    public async Task RecordCompletedAsync(JobCompleted e, CancellationToken ct)
    {
        await inner.RecordCompletedAsync(e, ct);
        if (_finished.TryAdd(e.JobId, true)) _completedByWorker.AddOrUpdate(e.Worker, 1, (_, n) => n + 1);
    }

    public async Task RecordFailedAsync(JobFailed e, CancellationToken ct)
    {
        await inner.RecordFailedAsync(e, ct);
        _finished.TryAdd(e.JobId, false);
    }

    public Task<JobRecord?> GetAsync(Guid jobId, CancellationToken ct) => inner.GetAsync(jobId, ct);

    public Task<JobPage> ListAsync(JobQuery q, CancellationToken ct) => inner.ListAsync(q, ct);
}
