using System.Text.Json;
using Dapper;
using Npgsql;

namespace LoRAQueue.Gateway.Batches;

/// <summary>A row of <c>batches</c>. completed_at is set by the webhooks' batch-completion watcher.</summary>
public sealed record BatchRecord(Guid BatchId, string Tenant, string? WebhookUrl, int TotalLines, int Accepted, int Rejected,
                                 IReadOnlyDictionary<string, string>? Metadata, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt);

/// <summary>Batches in Postgres (migrations/0004, 0010) and the per-status counts of their jobs (from <c>jobs.batch_id</c>).</summary>
public sealed class BatchStore(NpgsqlDataSource dataSource)
{
    /// <summary>The Idempotency-Key a batch is created under and the hash of its request (<see cref="BatchRequestHash"/>).</summary>
    public sealed record KeyClaim(string Key, byte[] RequestHash);

    /// <summary>What a retry under a batch's key needs: whether the first submission finished queueing, and its answer.</summary>
    public sealed record Submission(DateTimeOffset? SealedAt, string? Answer);

    /// <summary>Creates the batch and, with a <paramref name="claim"/>, claims its key for it in the same transaction: a key
    /// never names a batch that does not exist. False when the key is already claimed (nothing is written).</summary>
    public async Task<bool> CreateAsync(Guid batchId, string tenant, string? webhookUrl, int totalLines, int accepted, int rejected,
                                        IReadOnlyDictionary<string, string>? metadata, KeyClaim? claim, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO batches (batch_id, tenant, webhook_url, total_lines, accepted, rejected, metadata)
            VALUES (@BatchId, @Tenant, @WebhookUrl, @TotalLines, @Accepted, @Rejected, CAST(@Metadata AS json))
            """, new
            {
                BatchId = batchId, Tenant = tenant, WebhookUrl = webhookUrl, TotalLines = totalLines, Accepted = accepted,
                Rejected = rejected, Metadata = metadata is null ? null : JsonSerializer.Serialize(metadata),
            }, transaction, cancellationToken: ct));
        if (claim is not null && await connection.ExecuteAsync(new CommandDefinition("""
                INSERT INTO idempotency_keys (tenant, key, request_hash, batch_id) VALUES (@Tenant, @Key, @Hash, @BatchId)
                ON CONFLICT (tenant, key) DO NOTHING
                """, new { Tenant = tenant, claim.Key, Hash = claim.RequestHash, BatchId = batchId }, transaction, cancellationToken: ct)) == 0)
            return false;
        await transaction.CommitAsync(ct);
        return true;
    }

    /// <summary>Marks the batch's submission finished: its final counts, when, and (for a keyed batch) the answer it gave.</summary>
    public async Task SealAsync(Guid batchId, int accepted, int rejected, string? answer, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE batches SET accepted = @Accepted, rejected = @Rejected, sealed_at = now(), answer = CAST(@Answer AS json)
            WHERE batch_id = @BatchId
            """, new { BatchId = batchId, Accepted = accepted, Rejected = rejected, Answer = answer }, cancellationToken: ct));
    }

    /// <summary>Removes a batch none of whose jobs was queued (it has no jobs), and the key claimed for it: a retry starts afresh.</summary>
    public async Task DeleteAsync(Guid batchId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM idempotency_keys WHERE batch_id = @BatchId", new { BatchId = batchId },
                                                            transaction, cancellationToken: ct));
        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM batches WHERE batch_id = @BatchId", new { BatchId = batchId },
                                                            transaction, cancellationToken: ct));
        await transaction.CommitAsync(ct);
    }

    public async Task<Submission?> GetSubmissionAsync(Guid batchId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<SubmissionRow>(new CommandDefinition(
            "SELECT sealed_at AS SealedAt, answer::text AS Answer FROM batches WHERE batch_id = @BatchId", new { BatchId = batchId },
            cancellationToken: ct));
        return row is null ? null
            : new Submission(row.SealedAt is { } at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : null, row.Answer);
    }

    /// <summary>The batch's jobs that have a history row. A job is recorded only after it was sent, so these were queued.</summary>
    public async Task<HashSet<Guid>> RecordedJobIdsAsync(Guid batchId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var ids = await connection.QueryAsync<Guid>(new CommandDefinition(
            "SELECT job_id FROM jobs WHERE batch_id = @BatchId", new { BatchId = batchId }, cancellationToken: ct));
        return ids.ToHashSet();
    }

    /// <summary>The tenant's batch; null when there is none or it is another tenant's.</summary>
    public async Task<BatchRecord?> GetAsync(string tenant, Guid batchId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<BatchRow>(new CommandDefinition("""
            SELECT batch_id AS BatchId, tenant AS Tenant, webhook_url AS WebhookUrl, total_lines AS TotalLines,
                   accepted AS Accepted, rejected AS Rejected, metadata::text AS Metadata, created_at AS CreatedAt,
                   completed_at AS CompletedAt
            FROM batches WHERE batch_id = @BatchId AND tenant = @Tenant
            """, new { BatchId = batchId, Tenant = tenant }, cancellationToken: ct));
        return row?.ToRecord();
    }

    /// <summary>Status name → number of the batch's jobs in the history.</summary>
    public async Task<IReadOnlyDictionary<string, int>> CountByStatusAsync(Guid batchId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<(string Status, long Count)>(new CommandDefinition(
            "SELECT status, count(*) FROM jobs WHERE batch_id = @BatchId GROUP BY status", new { BatchId = batchId }, cancellationToken: ct));
        return rows.ToDictionary(r => r.Status, r => (int)r.Count, StringComparer.Ordinal);
    }

    private sealed class SubmissionRow
    {
        public DateTime? SealedAt { get; set; }
        public string? Answer { get; set; }
    }

    private sealed class BatchRow
    {
        public Guid BatchId { get; set; }
        public string Tenant { get; set; } = "";
        public string? WebhookUrl { get; set; }
        public int TotalLines { get; set; }
        public int Accepted { get; set; }
        public int Rejected { get; set; }
        public string? Metadata { get; set; }
        public DateTime CreatedAt { get; set; }
        public DateTime? CompletedAt { get; set; }

        public BatchRecord ToRecord() => new(BatchId, Tenant, WebhookUrl, TotalLines, Accepted, Rejected,
            Metadata is null ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(Metadata),
            Utc(CreatedAt), CompletedAt is { } completed ? Utc(completed) : null);

        private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));
    }
}
