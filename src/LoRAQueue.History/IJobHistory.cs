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
    Task RecordQueuedAsync(SubmitJob job, int? rankBucket, CancellationToken ct);
    Task RecordStartedAsync(JobStarted e, CancellationToken ct);
    Task RecordCompletedAsync(JobCompleted e, CancellationToken ct);
    Task RecordFailedAsync(JobFailed e, CancellationToken ct);
    Task<JobRecord?> GetAsync(Guid jobId, CancellationToken ct);
    Task<JobPage> ListAsync(JobQuery q, CancellationToken ct);
}
