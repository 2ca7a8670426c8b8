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
        total_ms AS TotalMs, updated_at AS UpdatedAt, batch_id AS BatchId, custom_id AS CustomId, trace_id AS TraceId
        """;

    /// <summary>
    /// Insert, or move an existing job forward: the update applies only when the event raises status_rank, so
    /// redeliveries and late events are no-ops. Tenant and submitted_at stay as first recorded; other columns
    /// take the event's value when it has one (the same merge as <see cref="JobTransitions.Merge"/>).
    /// </summary>
    public const string Upsert = """
        INSERT INTO jobs (job_id, tenant, adapter_id, rank_bucket, status, status_rank, prompt, output_text,
                          prompt_tokens, output_tokens, finish_reason, error_code, error_message, worker, webhook_url,
                          metadata, submitted_at, started_at, completed_at, queue_ms, wait_ms, ttft_ms, tpot_ms, total_ms,
                          batch_id, custom_id, trace_id, updated_at)
        VALUES (@JobId, @Tenant, @AdapterId, @RankBucket, @Status, @StatusRank, @Prompt, @OutputText,
                @PromptTokens, @OutputTokens, @FinishReason, @ErrorCode, @ErrorMessage, @Worker, @WebhookUrl,
                CAST(@Metadata AS jsonb), @SubmittedAt, @StartedAt, @CompletedAt, @QueueMs, @WaitMs, @TtftMs, @TpotMs, @TotalMs,
                @BatchId, @CustomId, @TraceId, now())
        ON CONFLICT (job_id) DO UPDATE SET
            status = EXCLUDED.status,
            status_rank = EXCLUDED.status_rank,
            adapter_id = COALESCE(EXCLUDED.adapter_id, jobs.adapter_id),
            rank_bucket = COALESCE(EXCLUDED.rank_bucket, jobs.rank_bucket),
            prompt = COALESCE(EXCLUDED.prompt, jobs.prompt),
            output_text = COALESCE(EXCLUDED.output_text, jobs.output_text),
            prompt_tokens = COALESCE(EXCLUDED.prompt_tokens, jobs.prompt_tokens),
            output_tokens = COALESCE(EXCLUDED.output_tokens, jobs.output_tokens),
            finish_reason = COALESCE(EXCLUDED.finish_reason, jobs.finish_reason),
            error_code = COALESCE(EXCLUDED.error_code, jobs.error_code),
            error_message = COALESCE(EXCLUDED.error_message, jobs.error_message),
            worker = COALESCE(EXCLUDED.worker, jobs.worker),
            webhook_url = COALESCE(EXCLUDED.webhook_url, jobs.webhook_url),
            metadata = COALESCE(EXCLUDED.metadata, jobs.metadata),
            started_at = COALESCE(jobs.started_at, EXCLUDED.started_at),
            completed_at = COALESCE(EXCLUDED.completed_at, jobs.completed_at),
            queue_ms = COALESCE(EXCLUDED.queue_ms, jobs.queue_ms),
            wait_ms = COALESCE(EXCLUDED.wait_ms, jobs.wait_ms),
            ttft_ms = COALESCE(EXCLUDED.ttft_ms, jobs.ttft_ms),
            tpot_ms = COALESCE(EXCLUDED.tpot_ms, jobs.tpot_ms),
            total_ms = COALESCE(EXCLUDED.total_ms, jobs.total_ms),
            batch_id = COALESCE(EXCLUDED.batch_id, jobs.batch_id),
            custom_id = COALESCE(EXCLUDED.custom_id, jobs.custom_id),
            trace_id = COALESCE(jobs.trace_id, EXCLUDED.trace_id),
            updated_at = now()
        WHERE jobs.status_rank < EXCLUDED.status_rank
        """;

    /// <summary>The parameters of <see cref="Upsert"/> for one record.</summary>
    public static NpgsqlParameter[] UpsertParameters(JobRecord job) =>
    [
        new("JobId", job.JobId), new("Tenant", job.Tenant), Nullable("AdapterId", job.AdapterId), Nullable("RankBucket", job.RankBucket),
        new("Status", JobStatuses.Name(job.Status)), new("StatusRank", (short)JobStatuses.Rank(job.Status)),
        Nullable("Prompt", job.Prompt), Nullable("OutputText", job.OutputText), Nullable("PromptTokens", job.PromptTokens),
        Nullable("OutputTokens", job.OutputTokens), Nullable("FinishReason", job.FinishReason), Nullable("ErrorCode", job.ErrorCode),
        Nullable("ErrorMessage", job.ErrorMessage), Nullable("Worker", job.Worker), Nullable("WebhookUrl", job.WebhookUrl),
        Nullable("Metadata", job.Metadata is null ? null : JsonSerializer.Serialize(job.Metadata)),
        new("SubmittedAt", job.SubmittedAt), Nullable("StartedAt", job.StartedAt), Nullable("CompletedAt", job.CompletedAt),
        Nullable("QueueMs", job.QueueMs), Nullable("WaitMs", job.WaitMs), Nullable("TtftMs", job.TtftMs), Nullable("TpotMs", job.TpotMs),
        Nullable("TotalMs", job.TotalMs), Nullable("BatchId", job.BatchId), Nullable("CustomId", job.CustomId),
        Nullable("TraceId", job.TraceId),
    ];

    // Typed nulls: in a batch Postgres cannot always infer an untyped null parameter's type.
    private static NpgsqlParameter Nullable<T>(string name, T? value) where T : class =>
        new NpgsqlParameter<T>(name, value!);

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
