namespace LoRAQueue.History;

/// <summary>One job as the history knows it (a row of <c>jobs</c>). Timestamps are UTC with microsecond precision.</summary>
public sealed record JobRecord(
    Guid JobId,
    string Tenant,
    string? AdapterId,
    int? RankBucket,
    JobStatus Status,
    string? Prompt,
    string? OutputText,
    int? PromptTokens,
    int? OutputTokens,
    string? FinishReason,
    string? ErrorCode,
    string? ErrorMessage,
    string? Worker,
    string? WebhookUrl,
    IReadOnlyDictionary<string, string>? Metadata,
    DateTimeOffset SubmittedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? CompletedAt, // when it completed or failed
    double? QueueMs,
    double? WaitMs,
    double? TtftMs,
    double? TpotMs,
    double? TotalMs,
    DateTimeOffset UpdatedAt,
    Guid? BatchId = null,         // the gateway batch the job came in, null for a single job
    string? CustomId = null,      // the producer's own id (a batch line's custom_id)
    string? TraceId = null,       // the W3C trace id (32 hex) the job ran in, null when tracing was off
    string? AdapterSource = null, // JobCompleted.AdapterLoad: where the adapter's bytes were (active | host | peer | store)
    double? AdapterLoadMs = null); // and how long the job waited for them; both null for base-model jobs and until completed

/// <summary>
/// A history query: every filter given must match (null = any). <see cref="Since"/> is inclusive and
/// <see cref="Until"/> exclusive, both on SubmittedAt. Results come newest first; pass a page's
/// <see cref="JobPage.Next"/> as <see cref="After"/> to get the following page.
/// </summary>
public sealed record JobQuery(
    string? Tenant = null,
    string? AdapterId = null,
    JobStatus? Status = null,
    DateTimeOffset? Since = null,
    DateTimeOffset? Until = null,
    int Limit = 50,
    string? After = null,
    Guid? BatchId = null)
{
    public const int MaxLimit = 1000;

    internal void Validate()
    {
        if (Limit is < 1 or > MaxLimit)
            throw new ArgumentOutOfRangeException(nameof(Limit), Limit, $"a page holds 1 to {MaxLimit} jobs");
    }
}

/// <summary>A page of jobs; <see cref="Next"/> is null on the last page.</summary>
public sealed record JobPage(IReadOnlyList<JobRecord> Items, string? Next);
