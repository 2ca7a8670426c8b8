using System.Text;
using System.Text.Json;
using Dapper;
using LoRAQueue.Contracts;
using Npgsql;

namespace LoRAQueue.History;

/// <summary>The job history in Postgres (table <c>jobs</c>, see migrations/). Each Record* is one round trip: a batch of
/// upserts, one per job.</summary>
public sealed class PostgresJobHistory(NpgsqlDataSource dataSource) : IJobHistory
{
    public Task RecordQueuedAsync(IReadOnlyList<QueuedJobRecord> jobs, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        return Record([.. jobs.Select(q => JobTransitions.FromQueued(q.Job, q.RankBucket))], ct);
    }

    public Task RecordStartedAsync(JobStarted e, CancellationToken ct) => Record([JobTransitions.FromStarted(e)], ct);

    public Task RecordCompletedAsync(JobCompleted e, CancellationToken ct) => Record([JobTransitions.FromCompleted(e)], ct);

    public Task RecordFailedAsync(JobFailed e, CancellationToken ct) => Record([JobTransitions.FromFailed(e)], ct);

    public async Task<JobRecord?> GetAsync(Guid jobId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<JobRow>(
            new CommandDefinition(JobSql.Get, new { JobId = jobId }, cancellationToken: ct));
        return row?.ToRecord();
    }

    public async Task<JobPage> ListAsync(JobQuery q, CancellationToken ct)
    {
        q.Validate();
        JobCursor? after = string.IsNullOrEmpty(q.After) ? null : JobCursor.Decode(q.After);
        var (sql, parameters) = JobSql.List(q, after);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = (await connection.QueryAsync<JobRow>(new CommandDefinition(sql, parameters, cancellationToken: ct))).ToList();
        var page = rows.Take(q.Limit).Select(r => r.ToRecord()).ToList();
        string? next = rows.Count > q.Limit ? JobCursor.Of(page[^1]).Encode() : null;
        return new JobPage(page, next);
    }

    /// <summary>One <see cref="NpgsqlBatch"/> of <see cref="JobSql.Upsert"/>s: a single round trip however many jobs.</summary>
    private async Task Record(IReadOnlyList<JobRecord> jobs, CancellationToken ct)
    {
        if (jobs.Count == 0) return;
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var batch = new NpgsqlBatch(connection);
        foreach (var job in jobs)
        {
            var command = new NpgsqlBatchCommand(JobSql.Upsert);
            command.Parameters.AddRange(JobSql.UpsertParameters(job));
            batch.BatchCommands.Add(command);
        }
        await batch.ExecuteNonQueryAsync(ct);
    }

    /// <summary>A row as Dapper reads it (Npgsql returns timestamptz as UTC DateTime).</summary>
    private sealed class JobRow
    {
        public Guid JobId { get; set; }
        public string Tenant { get; set; } = "";
        public string? AdapterId { get; set; }
        public int? RankBucket { get; set; }
        public string Status { get; set; } = "";
        public byte[]? Prompt { get; set; }     // bytea: UTF-8, may hold U+0000
        public byte[]? OutputText { get; set; }
        public int? PromptTokens { get; set; }
        public int? OutputTokens { get; set; }
        public string? FinishReason { get; set; }
        public string? ErrorCode { get; set; }
        public byte[]? ErrorMessage { get; set; }
        public string? Worker { get; set; }
        public string? WebhookUrl { get; set; }
        public string? Metadata { get; set; }
        public DateTime SubmittedAt { get; set; }
        public DateTime? StartedAt { get; set; }
        public DateTime? CompletedAt { get; set; }
        public double? QueueMs { get; set; }
        public double? WaitMs { get; set; }
        public double? TtftMs { get; set; }
        public double? TpotMs { get; set; }
        public double? TotalMs { get; set; }
        public DateTime UpdatedAt { get; set; }
        public Guid? BatchId { get; set; }
        public string? CustomId { get; set; }
        public string? TraceId { get; set; }
        public string? AdapterSource { get; set; }
        public double? AdapterLoadMs { get; set; }

        public JobRecord ToRecord() => new(
            JobId, Tenant, AdapterId, RankBucket, JobStatuses.Parse(Status), Utf8(Prompt), Utf8(OutputText), PromptTokens,
            OutputTokens, FinishReason, ErrorCode, Utf8(ErrorMessage), Worker, WebhookUrl,
            Metadata is null ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(Metadata),
            Timestamps.FromUtc(SubmittedAt), Timestamps.FromUtc(StartedAt), Timestamps.FromUtc(CompletedAt),
            QueueMs, WaitMs, TtftMs, TpotMs, TotalMs, Timestamps.FromUtc(UpdatedAt), BatchId, CustomId, TraceId,
            AdapterSource, AdapterLoadMs);

        private static string? Utf8(byte[]? bytes) => bytes is null ? null : Encoding.UTF8.GetString(bytes);
    }
}
