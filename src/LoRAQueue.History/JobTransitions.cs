using LoRAQueue.Contracts;

namespace LoRAQueue.History;

/// <summary>
/// What each event says about a job, as a partial record (null = the event does not know), and how it merges
/// into what is recorded. <see cref="PostgresJobHistory"/> does the same merge in one SQL upsert.
/// </summary>
internal static class JobTransitions
{
    public static JobRecord FromQueued(SubmitJob job, int? rankBucket) => Blank(job.JobId, job.Tenant, JobStatus.Queued, job.SubmittedAt) with
    {
        AdapterId = job.AdapterId,
        RankBucket = rankBucket,
        Prompt = EmptyAsNull(job.Prompt),
        WebhookUrl = job.WebhookUrl,
        Metadata = Copy(job.Metadata),
        BatchId = job.BatchId,
        CustomId = EmptyAsNull(job.CustomId),
    };

    public static JobRecord FromStarted(JobStarted e) => Blank(e.JobId, e.Tenant, JobStatus.Running, e.SubmittedAt) with
    {
        AdapterId = e.AdapterId,
        RankBucket = e.RankBucket,
        Prompt = EmptyAsNull(e.Prompt),
        Worker = EmptyAsNull(e.Worker),
        WebhookUrl = e.WebhookUrl,
        Metadata = Copy(e.Metadata),
        BatchId = e.BatchId,
        CustomId = EmptyAsNull(e.CustomId),
        StartedAt = Timestamps.Normalize(e.StartedAt),
        // Provisional: the worker's JobCompleted carries the authoritative queue time.
        QueueMs = Math.Max(0, (e.StartedAt - e.SubmittedAt).TotalMilliseconds),
    };

    public static JobRecord FromCompleted(JobCompleted e) => Blank(e.JobId, e.Tenant, JobStatus.Completed, e.SubmittedAt) with
    {
        AdapterId = e.AdapterId,
        RankBucket = e.RankBucket,
        Worker = EmptyAsNull(e.Worker),
        WebhookUrl = e.WebhookUrl,
        Metadata = Copy(e.Metadata),
        BatchId = e.BatchId,
        CustomId = EmptyAsNull(e.CustomId),
        OutputText = e.OutputText,
        PromptTokens = e.PromptTokens,
        OutputTokens = e.OutputTokens,
        FinishReason = EmptyAsNull(e.FinishReason),
        CompletedAt = Timestamps.Normalize(e.CompletedAt),
        // Events race on the recorder's queue: when JobCompleted lands first, the start time still follows from the
        // worker's queue time, and a late JobStarted (ignored: it would regress the status) is not needed for it.
        StartedAt = e.Timings is { } t ? Timestamps.Normalize(e.SubmittedAt + TimeSpan.FromMilliseconds(t.QueueMs)) : null,
        QueueMs = e.Timings?.QueueMs,
        WaitMs = e.Timings?.WaitMs,
        TtftMs = e.Timings?.TtftMs,
        TpotMs = e.Timings?.TpotMs,
        TotalMs = e.Timings?.TotalMs,
    };

    public static JobRecord FromFailed(JobFailed e) => Blank(e.JobId, e.Tenant, JobStatus.Failed, e.SubmittedAt) with
    {
        AdapterId = e.AdapterId,
        RankBucket = e.RankBucket,
        Worker = EmptyAsNull(e.Worker),
        WebhookUrl = e.WebhookUrl,
        Metadata = Copy(e.Metadata),
        BatchId = e.BatchId,
        CustomId = EmptyAsNull(e.CustomId),
        ErrorCode = EmptyAsNull(e.ReasonCode),
        ErrorMessage = EmptyAsNull(e.Message),
        CompletedAt = Timestamps.Normalize(e.FailedAt),
    };

    /// <summary>
    /// The record after <paramref name="incoming"/>, or <paramref name="existing"/> itself (unchanged) when the
    /// event does not raise the status. Tenant and SubmittedAt stay as first recorded; every other field takes
    /// the incoming value when it has one.
    /// </summary>
    public static JobRecord Merge(JobRecord? existing, JobRecord incoming, DateTimeOffset now)
    {
        if (existing is null) return incoming with { UpdatedAt = now };
        if (JobStatuses.Rank(incoming.Status) <= JobStatuses.Rank(existing.Status)) return existing;
        return existing with
        {
            Status = incoming.Status,
            AdapterId = incoming.AdapterId ?? existing.AdapterId,
            RankBucket = incoming.RankBucket ?? existing.RankBucket,
            Prompt = incoming.Prompt ?? existing.Prompt,
            OutputText = incoming.OutputText ?? existing.OutputText,
            PromptTokens = incoming.PromptTokens ?? existing.PromptTokens,
            OutputTokens = incoming.OutputTokens ?? existing.OutputTokens,
            FinishReason = incoming.FinishReason ?? existing.FinishReason,
            ErrorCode = incoming.ErrorCode ?? existing.ErrorCode,
            ErrorMessage = incoming.ErrorMessage ?? existing.ErrorMessage,
            Worker = incoming.Worker ?? existing.Worker,
            WebhookUrl = incoming.WebhookUrl ?? existing.WebhookUrl,
            Metadata = incoming.Metadata ?? existing.Metadata,
            StartedAt = existing.StartedAt ?? incoming.StartedAt, // the worker's own JobStarted time wins
            CompletedAt = incoming.CompletedAt ?? existing.CompletedAt,
            QueueMs = incoming.QueueMs ?? existing.QueueMs,
            WaitMs = incoming.WaitMs ?? existing.WaitMs,
            TtftMs = incoming.TtftMs ?? existing.TtftMs,
            TpotMs = incoming.TpotMs ?? existing.TpotMs,
            TotalMs = incoming.TotalMs ?? existing.TotalMs,
            BatchId = incoming.BatchId ?? existing.BatchId,
            CustomId = incoming.CustomId ?? existing.CustomId,
            TraceId = existing.TraceId ?? incoming.TraceId, // the first trace recorded stays
            UpdatedAt = now,
        };
    }

    private static JobRecord Blank(Guid jobId, string tenant, JobStatus status, DateTimeOffset submittedAt)
    {
        if (jobId == Guid.Empty) throw new ArgumentException("a job event needs a job id", nameof(jobId));
        return new JobRecord(
            JobId: jobId, Tenant: tenant ?? "", AdapterId: null, RankBucket: null, Status: status, Prompt: null,
            OutputText: null, PromptTokens: null, OutputTokens: null, FinishReason: null, ErrorCode: null,
            ErrorMessage: null, Worker: null, WebhookUrl: null, Metadata: null,
            SubmittedAt: Timestamps.Normalize(submittedAt), StartedAt: null, CompletedAt: null,
            QueueMs: null, WaitMs: null, TtftMs: null, TpotMs: null, TotalMs: null, UpdatedAt: default, TraceId: TraceIds.Current());
    }

    /// <summary>A private copy, so the caller's dictionary can change without changing the history.</summary>
    private static IReadOnlyDictionary<string, string>? Copy(Dictionary<string, string>? metadata) =>
        metadata is null ? null : new Dictionary<string, string>(metadata);

    private static string? EmptyAsNull(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
