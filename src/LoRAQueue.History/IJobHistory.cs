using LoRAQueue.Contracts;

namespace LoRAQueue.History;

/// <summary>
/// The job history. Every Record* is an idempotent upsert keyed by job id that only ever moves a job forward:
/// an event whose status does not raise the recorded one (a redelivery, a late JobStarted after the job
/// finished, a second terminal event) changes nothing. An event that does raise it fills in what it carries
/// and keeps what earlier events recorded.
/// </summary>
public interface IJobHistory
{
    /// <summary>Records jobs just sent to their queues; one write for all of them (a batch may hold 10,000).</summary>
    Task RecordQueuedAsync(IReadOnlyList<QueuedJobRecord> jobs, CancellationToken ct);
    Task RecordStartedAsync(JobStarted e, CancellationToken ct);
    Task RecordCompletedAsync(JobCompleted e, CancellationToken ct);
    Task RecordFailedAsync(JobFailed e, CancellationToken ct);
    Task<JobRecord?> GetAsync(Guid jobId, CancellationToken ct);
    Task<JobPage> ListAsync(JobQuery q, CancellationToken ct);
}

/// <summary>A job sent to the queue of <see cref="RankBucket"/> (null = lora-base).</summary>
public sealed record QueuedJobRecord(SubmitJob Job, int? RankBucket);

public static class JobHistoryExtensions
{
    /// <summary>Records one job queued.</summary>
    public static Task RecordQueuedAsync(this IJobHistory history, SubmitJob job, int? rankBucket, CancellationToken ct) =>
        history.RecordQueuedAsync([new QueuedJobRecord(job, rankBucket)], ct);
}
