using System.Collections.Concurrent;
using LoRAQueue.Contracts;
using LoRAQueue.History;

namespace LoRAQueue.Bench;

/// <summary>
/// The history the benchmark's recorder writes to: the in-memory history, plus every JobCompleted/JobFailed event kept
/// and counted per job, so that a run can prove each job finished exactly once and compute its latencies.
/// </summary>
public sealed class RunRecorder : IJobHistory
{
    private readonly InMemoryJobHistory _inner = new();
    private readonly ConcurrentDictionary<Guid, int> _terminalEvents = new();
    private readonly ConcurrentQueue<JobCompleted> _completed = new();
    private readonly ConcurrentQueue<JobFailed> _failed = new();

    /// <summary>Jobs with at least one terminal event.</summary>
    public int Finished => _terminalEvents.Count;
    public IReadOnlyCollection<JobCompleted> Completed => _completed;
    public IReadOnlyCollection<JobFailed> Failed => _failed;
    /// <summary>Terminal events beyond the first of their job: 0 when every job finished exactly once.</summary>
    public int Duplicates => _terminalEvents.Values.Sum(n => n - 1);

    public Task RecordQueuedAsync(IReadOnlyList<QueuedJobRecord> jobs, CancellationToken ct) => _inner.RecordQueuedAsync(jobs, ct);

    public Task RecordStartedAsync(JobStarted e, CancellationToken ct) => _inner.RecordStartedAsync(e, ct);

    public async Task RecordCompletedAsync(JobCompleted e, CancellationToken ct)
    {
        await _inner.RecordCompletedAsync(e, ct);
        _completed.Enqueue(e);
        _terminalEvents.AddOrUpdate(e.JobId, 1, (_, n) => n + 1);
    }

    public async Task RecordFailedAsync(JobFailed e, CancellationToken ct)
    {
        await _inner.RecordFailedAsync(e, ct);
        _failed.Enqueue(e);
        _terminalEvents.AddOrUpdate(e.JobId, 1, (_, n) => n + 1);
    }

    public Task<JobRecord?> GetAsync(Guid jobId, CancellationToken ct) => _inner.GetAsync(jobId, ct);

    public Task<JobPage> ListAsync(JobQuery q, CancellationToken ct) => _inner.ListAsync(q, ct);
}
