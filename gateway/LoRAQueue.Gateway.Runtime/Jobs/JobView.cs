using LoRAQueue.History;

namespace LoRAQueue.Gateway.Jobs;

public sealed record JobError(string? Code, string? Message);

public sealed record JobTimingsView(double? QueueMs, double? WaitMs, double? TtftMs, double? TpotMs, double? TotalMs);

/// <summary>How the job's adapter became usable: <see cref="Source"/> is where its bytes were ("active": loaded in the engine
/// already; "host": the worker's host cache; "peer": pulled from another worker; "store": read from the adapter store) and
/// <see cref="Ms"/> how long the job waited for it.</summary>
public sealed record JobAdapterLoadView(string Source, double Ms);

/// <summary>A job as GET /v1/jobs and GET /v1/jobs/{id} show it (snake_case). AdapterLoad: null for a base-model job and
/// until the worker reports it (with the job's completion). TraceId: the W3C trace the job ran in, null when tracing was
/// off (docs/tracing.md).</summary>
public sealed record JobView(
    Guid Id, string Status, string? Adapter, int? RankBucket, string? Prompt, string? OutputText, int? PromptTokens,
    int? OutputTokens, string? FinishReason, JobError? Error, string? Worker, string? WebhookUrl,
    IReadOnlyDictionary<string, string>? Metadata, Guid? BatchId, string? CustomId, DateTimeOffset SubmittedAt,
    DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt, JobTimingsView Timings, JobAdapterLoadView? AdapterLoad,
    string? TraceId)
{
    public static JobView Of(JobRecord job) => new(
        job.JobId, JobStatuses.Name(job.Status), job.AdapterId, job.RankBucket, job.Prompt, job.OutputText, job.PromptTokens,
        job.OutputTokens, job.FinishReason,
        job.Status == JobStatus.Failed ? new JobError(job.ErrorCode, job.ErrorMessage) : null,
        job.Worker, job.WebhookUrl, job.Metadata, job.BatchId, job.CustomId, job.SubmittedAt, job.StartedAt, job.CompletedAt,
        new JobTimingsView(job.QueueMs, job.WaitMs, job.TtftMs, job.TpotMs, job.TotalMs),
        job is { AdapterSource: { } source, AdapterLoadMs: { } ms } ? new JobAdapterLoadView(source, ms) : null, job.TraceId);
}

/// <summary>A page of GET /v1/jobs; pass <see cref="Next"/> as ?after= for the following page (null on the last).</summary>
public sealed record JobList(IReadOnlyList<JobView> Data, string? Next);
