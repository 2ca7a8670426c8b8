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
        // Events race on the recorder's queue: when JobCompleted lands first, the start time follows from the worker's
        // queue time; the late JobStarted then only fills what is still missing (the prompt of a raw AMQP job).
        StartedAt = e.Timings is { } t ? Timestamps.Normalize(e.SubmittedAt + TimeSpan.FromMilliseconds(t.QueueMs)) : null,
        QueueMs = e.Timings?.QueueMs,
        WaitMs = e.Timings?.WaitMs,
        TtftMs = e.Timings?.TtftMs,
        TpotMs = e.Timings?.TpotMs,
        TotalMs = e.Timings?.TotalMs,
        AdapterSource = EmptyAsNull(e.AdapterLoad?.Source),
        AdapterLoadMs = e.AdapterLoad?.Ms,
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
    /// The record after <paramref name="incoming"/>; <paramref name="existing"/> itself (not touched) when it changes nothing.
    /// An event that raises the status writes what it knows over the record. A late or repeated event (a JobStarted after
    /// the JobCompleted, a redelivery) fills only fields still empty and never moves the status back; a second, different
    /// terminal event changes nothing. Tenant and SubmittedAt stay as first recorded; StartedAt and TraceId keep the
    /// first value known. The same merge as <see cref="JobSql.Upsert"/>.
    /// </summary>
    public static JobRecord Merge(JobRecord? existing, JobRecord incoming, DateTimeOffset now)
    {
        if (existing is null) return incoming with { UpdatedAt = now };
        int from = JobStatuses.Rank(existing.Status), to = JobStatuses.Rank(incoming.Status);
        bool advances = to > from;
        if (!advances && to == from && incoming.Status != existing.Status) return existing; // the first terminal event wins
        var (first, second) = advances ? (incoming, existing) : (existing, incoming);
        var merged = existing with
        {
            Status = first.Status,
            AdapterId = first.AdapterId ?? second.AdapterId,
            RankBucket = first.RankBucket ?? second.RankBucket,
            Prompt = first.Prompt ?? second.Prompt,
            OutputText = first.OutputText ?? second.OutputText,
            PromptTokens = first.PromptTokens ?? second.PromptTokens,
            OutputTokens = first.OutputTokens ?? second.OutputTokens,
            FinishReason = first.FinishReason ?? second.FinishReason,
            ErrorCode = first.ErrorCode ?? second.ErrorCode,
            ErrorMessage = first.ErrorMessage ?? second.ErrorMessage,
            Worker = first.Worker ?? second.Worker,
            WebhookUrl = first.WebhookUrl ?? second.WebhookUrl,
            Metadata = first.Metadata ?? second.Metadata,
            StartedAt = existing.StartedAt ?? incoming.StartedAt, // the worker's own JobStarted time, when it came first
            CompletedAt = first.CompletedAt ?? second.CompletedAt,
            QueueMs = first.QueueMs ?? second.QueueMs,
            WaitMs = first.WaitMs ?? second.WaitMs,
            TtftMs = first.TtftMs ?? second.TtftMs,
            TpotMs = first.TpotMs ?? second.TpotMs,
            TotalMs = first.TotalMs ?? second.TotalMs,
            BatchId = first.BatchId ?? second.BatchId,
            CustomId = first.CustomId ?? second.CustomId,
            AdapterSource = first.AdapterSource ?? second.AdapterSource,
            AdapterLoadMs = first.AdapterLoadMs ?? second.AdapterLoadMs,
            TraceId = existing.TraceId ?? incoming.TraceId, // the first trace recorded stays
        };
        return merged == existing ? existing : merged with { UpdatedAt = now };
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
