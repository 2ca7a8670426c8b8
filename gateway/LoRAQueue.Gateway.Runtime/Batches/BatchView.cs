using LoRAQueue.Gateway.Jobs;
using LoRAQueue.History;

namespace LoRAQueue.Gateway.Batches;

public sealed record BatchCounts(int Queued, int Running, int Completed, int Failed);

/// <summary>GET /v1/batches/{id}: status is "completed" once every accepted job has completed or failed.</summary>
public sealed record BatchView(Guid BatchId, string Status, int TotalLines, int Accepted, int Rejected, BatchCounts Counts,
                               string? WebhookUrl, IReadOnlyDictionary<string, string>? Metadata, DateTimeOffset CreatedAt,
                               DateTimeOffset? CompletedAt)
{
    public static BatchView Of(BatchRecord batch, IReadOnlyDictionary<string, int> byStatus)
    {
        int Count(JobStatus s) => byStatus.GetValueOrDefault(JobStatuses.Name(s));
        var counts = new BatchCounts(Count(JobStatus.Queued), Count(JobStatus.Running), Count(JobStatus.Completed), Count(JobStatus.Failed));
        bool done = batch.CompletedAt is not null || counts.Completed + counts.Failed >= batch.Accepted;
        return new BatchView(batch.BatchId, done ? "completed" : "in_progress", batch.TotalLines, batch.Accepted, batch.Rejected,
                             counts, batch.WebhookUrl, batch.Metadata, batch.CreatedAt, batch.CompletedAt);
    }
}

public sealed record BatchOutput(string? Text, string? FinishReason, int? PromptTokens, int? OutputTokens);

/// <summary>One line of GET /v1/batches/{id}/results.</summary>
public sealed record BatchResultLine(string? CustomId, Guid JobId, string Status, BatchOutput? Output, JobError? Error)
{
    public static BatchResultLine Of(JobRecord job) => new(
        job.CustomId, job.JobId, JobStatuses.Name(job.Status),
        job.Status == JobStatus.Completed ? new BatchOutput(job.OutputText, job.FinishReason, job.PromptTokens, job.OutputTokens) : null,
        job.Status == JobStatus.Failed ? new JobError(job.ErrorCode, job.ErrorMessage) : null);
}
