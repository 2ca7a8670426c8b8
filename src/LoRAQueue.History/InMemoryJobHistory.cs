using LoRAQueue.Contracts;

namespace LoRAQueue.History;

/// <summary>The job history in process memory, for the embedded demo: same semantics as <see cref="PostgresJobHistory"/>.</summary>
public sealed class InMemoryJobHistory(TimeProvider? clock = null) : IJobHistory
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly Dictionary<Guid, JobRecord> _jobs = [];
    private readonly Lock _lock = new();

    public async Task RecordQueuedAsync(IReadOnlyList<QueuedJobRecord> jobs, CancellationToken ct)
    {
        foreach (var queued in jobs) await Record(JobTransitions.FromQueued(queued.Job, queued.RankBucket));
    }

    public Task RecordStartedAsync(JobStarted e, CancellationToken ct) => Record(JobTransitions.FromStarted(e));

    public Task RecordCompletedAsync(JobCompleted e, CancellationToken ct) => Record(JobTransitions.FromCompleted(e));

    public Task RecordFailedAsync(JobFailed e, CancellationToken ct) => Record(JobTransitions.FromFailed(e));

    public Task<JobRecord?> GetAsync(Guid jobId, CancellationToken ct)
    {
        lock (_lock) return Task.FromResult(_jobs.GetValueOrDefault(jobId));
    }

    public Task<JobPage> ListAsync(JobQuery q, CancellationToken ct)
    {
        q.Validate();
        JobCursor? after = string.IsNullOrEmpty(q.After) ? null : JobCursor.Decode(q.After);
        var since = Timestamps.Normalize(q.Since);
        var until = Timestamps.Normalize(q.Until);
        List<JobRecord> matching;
        lock (_lock)
        {
            matching = _jobs.Values.Where(job =>
                    (q.Tenant is null || job.Tenant == q.Tenant)
                    && (q.AdapterId is null || job.AdapterId == q.AdapterId)
                    && (q.BatchId is null || job.BatchId == q.BatchId)
                    && (q.Status is null || job.Status == q.Status)
                    && (since is null || job.SubmittedAt >= since)
                    && (until is null || job.SubmittedAt < until)
                    && (after is null || after.Value.Precedes(job)))
                .ToList();
        }
        matching.Sort(JobCursor.CompareNewestFirst);
        var page = matching.Take(q.Limit).ToList();
        string? next = matching.Count > q.Limit ? JobCursor.Of(page[^1]).Encode() : null;
        return Task.FromResult(new JobPage(page, next));
    }

    private Task Record(JobRecord incoming)
    {
        var now = Timestamps.Normalize(_clock.GetUtcNow());
        lock (_lock)
            _jobs[incoming.JobId] = JobTransitions.Merge(_jobs.GetValueOrDefault(incoming.JobId), incoming, now);
        return Task.CompletedTask;
    }
}
