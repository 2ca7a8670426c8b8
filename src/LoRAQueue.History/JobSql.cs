using System.Text;
using System.Text.Json;
using Dapper;
using Npgsql;
using NpgsqlTypes;

namespace LoRAQueue.History;

/// <summary>The SQL of <see cref="PostgresJobHistory"/>.</summary>
internal static class JobSql
{
    private const string Columns = """
        job_id AS JobId, tenant AS Tenant, adapter_id AS AdapterId, rank_bucket AS RankBucket, status AS Status,
        prompt AS Prompt, output_text AS OutputText, prompt_tokens AS PromptTokens, output_tokens AS OutputTokens,
        finish_reason AS FinishReason, error_code AS ErrorCode, error_message AS ErrorMessage, worker AS Worker,
        webhook_url AS WebhookUrl, metadata::text AS Metadata, submitted_at AS SubmittedAt, started_at AS StartedAt,
        completed_at AS CompletedAt, queue_ms AS QueueMs, wait_ms AS WaitMs, ttft_ms AS TtftMs, tpot_ms AS TpotMs,
        total_ms AS TotalMs, updated_at AS UpdatedAt, batch_id AS BatchId, custom_id AS CustomId, trace_id AS TraceId,
        adapter_source AS AdapterSource, adapter_load_ms AS AdapterLoadMs
        """;

    /// <summary>Columns an event may fill: a status-raising event overwrites them with what it knows; any other event
    /// (late, or redelivered) only fills the ones still empty.</summary>
    private static readonly string[] Merged =
    [
        "adapter_id", "rank_bucket", "prompt", "output_text", "prompt_tokens", "output_tokens", "finish_reason", "error_code",
        "error_message", "worker", "webhook_url", "metadata", "completed_at", "queue_ms", "wait_ms", "ttft_ms", "tpot_ms",
        "total_ms", "batch_id", "custom_id", "adapter_source", "adapter_load_ms",
    ];

    /// <summary>Columns the first event to know them sets for good: the worker's own start time, the trace.</summary>
    private static readonly string[] FirstWins = ["started_at", "trace_id"];

    // A job's event arrives after one of a higher status (JobStarted after JobCompleted), or is the same status again.
    private const string Advances = "EXCLUDED.status_rank > jobs.status_rank";
    private const string SameRoad = "(EXCLUDED.status = jobs.status OR EXCLUDED.status_rank < jobs.status_rank)";

    /// <summary>
    /// Insert, or merge an event into the job's row, never moving its status back: an event that raises status_rank
    /// writes what it knows over the row; a late or repeated one (a JobStarted after the JobCompleted, a redelivery)
    /// fills only the columns still empty, so its prompt is kept and the status stays; a second, different terminal
    /// event changes nothing (the first one wins). A row is touched (updated_at) only when something changes. Tenant and
    /// submitted_at stay as first recorded. The same merge as <see cref="JobTransitions.Merge"/>.
    /// </summary>
    public static readonly string Upsert = $"""
        INSERT INTO jobs (job_id, tenant, adapter_id, rank_bucket, status, status_rank, prompt, output_text,
                          prompt_tokens, output_tokens, finish_reason, error_code, error_message, worker, webhook_url,
                          metadata, submitted_at, started_at, completed_at, queue_ms, wait_ms, ttft_ms, tpot_ms, total_ms,
                          batch_id, custom_id, trace_id, adapter_source, adapter_load_ms, updated_at)
        VALUES (@JobId, @Tenant, @AdapterId, @RankBucket, @Status, @StatusRank, @Prompt, @OutputText,
                @PromptTokens, @OutputTokens, @FinishReason, @ErrorCode, @ErrorMessage, @Worker, @WebhookUrl,
                CAST(@Metadata AS json), @SubmittedAt, @StartedAt, @CompletedAt, @QueueMs, @WaitMs, @TtftMs, @TpotMs, @TotalMs,
                @BatchId, @CustomId, @TraceId, @AdapterSource, @AdapterLoadMs, now())
        ON CONFLICT (job_id) DO UPDATE SET
            status = CASE WHEN {Advances} THEN EXCLUDED.status ELSE jobs.status END,
            status_rank = GREATEST(jobs.status_rank, EXCLUDED.status_rank),
            {string.Join(",\n    ", Merged.Select(c => $"{c} = CASE WHEN {Advances} THEN COALESCE(EXCLUDED.{c}, jobs.{c}) ELSE COALESCE(jobs.{c}, EXCLUDED.{c}) END"))},
            {string.Join(",\n    ", FirstWins.Select(c => $"{c} = COALESCE(jobs.{c}, EXCLUDED.{c})"))},
            updated_at = now()
        WHERE {Advances}
           OR ({SameRoad} AND ({string.Join("\n                OR ", Merged.Concat(FirstWins).Select(c => $"(jobs.{c} IS NULL AND EXCLUDED.{c} IS NOT NULL)"))}))
        """;

    /// <summary>The parameters of <see cref="Upsert"/> for one record.</summary>
    public static NpgsqlParameter[] UpsertParameters(JobRecord job) =>
    [
        new("JobId", job.JobId), Text("Tenant", job.Tenant), Text("AdapterId", job.AdapterId), Nullable("RankBucket", job.RankBucket),
        new("Status", JobStatuses.Name(job.Status)), new("StatusRank", (short)JobStatuses.Rank(job.Status)),
        Utf8("Prompt", job.Prompt), Utf8("OutputText", job.OutputText), Nullable("PromptTokens", job.PromptTokens),
        Nullable("OutputTokens", job.OutputTokens), Text("FinishReason", job.FinishReason), Text("ErrorCode", job.ErrorCode),
        Utf8("ErrorMessage", job.ErrorMessage), Text("Worker", job.Worker), Text("WebhookUrl", job.WebhookUrl),
        Text("Metadata", job.Metadata is null ? null : JsonSerializer.Serialize(job.Metadata)),
        new("SubmittedAt", job.SubmittedAt), Nullable("StartedAt", job.StartedAt), Nullable("CompletedAt", job.CompletedAt),
        Nullable("QueueMs", job.QueueMs), Nullable("WaitMs", job.WaitMs), Nullable("TtftMs", job.TtftMs), Nullable("TpotMs", job.TpotMs),
        Nullable("TotalMs", job.TotalMs), Nullable("BatchId", job.BatchId), Text("CustomId", job.CustomId),
        Text("TraceId", job.TraceId), Text("AdapterSource", job.AdapterSource), Nullable("AdapterLoadMs", job.AdapterLoadMs),
    ];

    /// <summary>Free text (prompt, output, error message) goes in as its UTF-8 bytes: a bytea column keeps U+0000, which
    /// no text column can hold (migration 0007).</summary>
    private static NpgsqlParameter Utf8(string name, string? value) =>
        new NpgsqlParameter<byte[]>(name, NpgsqlDbType.Bytea) { TypedValue = value is null ? null! : Encoding.UTF8.GetBytes(value) };

    /// <summary>A short text column (ids, codes, names). The rules refuse U+0000 in every one a producer sets, but a refused
    /// job's JobFailed still carries what it was sent: its failure is recorded with U+FFFD in place of each NUL rather than
    /// not at all. (Typed, so a null's type is known in a batch.)</summary>
    private static NpgsqlParameter Text(string name, string? value) =>
        new NpgsqlParameter<string>(name, NpgsqlDbType.Text) { TypedValue = value?.Replace('\0', '\uFFFD')! };

    private static NpgsqlParameter Nullable<T>(string name, T? value) where T : struct =>
        value is { } v ? new NpgsqlParameter<T>(name, v) : new NpgsqlParameter(name, TypeOf<T>()) { Value = DBNull.Value };

    private static NpgsqlDbType TypeOf<T>() => typeof(T) switch
    {
        var t when t == typeof(int) => NpgsqlDbType.Integer,
        var t when t == typeof(double) => NpgsqlDbType.Double,
        var t when t == typeof(Guid) => NpgsqlDbType.Uuid,
        var t when t == typeof(DateTimeOffset) => NpgsqlDbType.TimestampTz,
        _ => throw new NotSupportedException(typeof(T).Name),
    };

    public const string Get = $"SELECT {Columns} FROM jobs WHERE job_id = @JobId";

    /// <summary>A page query: filters, then the keyset position, newest first. Fetches one row more than the
    /// page so the caller knows whether a next page exists.</summary>
    public static (string Sql, DynamicParameters Parameters) List(JobQuery q, JobCursor? after)
    {
        var where = new List<string>();
        var p = new DynamicParameters();
        if (q.Tenant is not null) { where.Add("tenant = @Tenant"); p.Add("Tenant", q.Tenant); }
        if (q.AdapterId is not null) { where.Add("adapter_id = @AdapterId"); p.Add("AdapterId", q.AdapterId); }
        if (q.BatchId is { } batchId) { where.Add("batch_id = @BatchId"); p.Add("BatchId", batchId); }
        if (q.Status is { } status) { where.Add("status = @Status"); p.Add("Status", JobStatuses.Name(status)); }
        if (q.Since is { } since) { where.Add("submitted_at >= @Since"); p.Add("Since", Timestamps.Normalize(since)); }
        if (q.Until is { } until) { where.Add("submitted_at < @Until"); p.Add("Until", Timestamps.Normalize(until)); }
        if (after is { } cursor)
        {
            where.Add("(submitted_at, job_id) < (@AfterSubmittedAt, @AfterJobId)");
            p.Add("AfterSubmittedAt", cursor.SubmittedAt);
            p.Add("AfterJobId", cursor.JobId);
        }
        p.Add("Take", q.Limit + 1);

        var sql = new StringBuilder($"SELECT {Columns} FROM jobs");
        if (where.Count > 0) sql.Append(" WHERE ").AppendJoin(" AND ", where);
        sql.Append(" ORDER BY submitted_at DESC, job_id DESC LIMIT @Take");
        return (sql.ToString(), p);
    }
}
