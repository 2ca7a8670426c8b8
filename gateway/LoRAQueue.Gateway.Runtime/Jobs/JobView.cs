using LoRAQueue.History;

namespace LoRAQueue.Gateway.Jobs;

public sealed record JobError(string? Code, string? Message);

public sealed record JobTimingsView(double? QueueMs, double? WaitMs, double? TtftMs, double? TpotMs, double? TotalMs);

/// <summary>A job as GET /v1/jobs and GET /v1/jobs/{id} show it (snake_case). TraceId: the W3C trace the job ran in, null
/// when tracing was off (docs/tracing.md).</summary>
public sealed record JobView(
    Guid Id, string Status, string? Adapter, int? RankBucket, string? Prompt, string? OutputText, int? PromptTokens,
    int? OutputTokens, string? FinishReason, JobError? Error, string? Worker, string? WebhookUrl,
    IReadOnlyDictionary<string, string>? Metadata, Guid? BatchId, string? CustomId, DateTimeOffset SubmittedAt,
    DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt, JobTimingsView Timings, string? TraceId)
{
    public static JobView Of(JobRecord job) => new(
        job.JobId, JobStatuses.Name(job.Status), job.AdapterId, job.RankBucket, job.Prompt, job.OutputText, job.PromptTokens,
        job.OutputTokens, job.FinishReason,
        job.Status == JobStatus.Failed ? new JobError(job.ErrorCode, job.ErrorMessage) : null,
        job.Worker, job.WebhookUrl, job.Metadata, job.BatchId, job.CustomId, job.SubmittedAt, job.StartedAt, job.CompletedAt,
        new JobTimingsView(job.QueueMs, job.WaitMs, job.TtftMs, job.TpotMs, job.TotalMs), job.TraceId);
}

/// <summary>A page of GET /v1/jobs; pass <see cref="Next"/> as ?after= for the following page (null on the last).</summary>
public sealed record JobList(IReadOnlyList<JobView> Data, string? Next);
