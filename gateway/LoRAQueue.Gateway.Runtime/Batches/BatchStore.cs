using System.Text.Json;
using Dapper;
using Npgsql;

namespace LoRAQueue.Gateway.Batches;

/// <summary>A row of <c>batches</c>. completed_at is set by the webhooks' batch-completion watcher.</summary>
public sealed record BatchRecord(Guid BatchId, string Tenant, string? WebhookUrl, int TotalLines, int Accepted, int Rejected,
                                 IReadOnlyDictionary<string, string>? Metadata, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt);

/// <summary>Batches in Postgres (migrations/0004) and the per-status counts of their jobs (from <c>jobs.batch_id</c>).</summary>
public sealed class BatchStore(NpgsqlDataSource dataSource)
{
    public async Task CreateAsync(Guid batchId, string tenant, string? webhookUrl, int totalLines, int accepted, int rejected,
                                  IReadOnlyDictionary<string, string>? metadata, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO batches (batch_id, tenant, webhook_url, total_lines, accepted, rejected, metadata)
            VALUES (@BatchId, @Tenant, @WebhookUrl, @TotalLines, @Accepted, @Rejected, CAST(@Metadata AS json))
            """, new
            {
                BatchId = batchId, Tenant = tenant, WebhookUrl = webhookUrl, TotalLines = totalLines, Accepted = accepted,
                Rejected = rejected, Metadata = metadata is null ? null : JsonSerializer.Serialize(metadata),
            }, cancellationToken: ct));
    }

    /// <summary>Corrects the counts when some accepted lines could not be published after the row was written.</summary>
    public async Task SetCountsAsync(Guid batchId, int accepted, int rejected, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE batches SET accepted = @Accepted, rejected = @Rejected WHERE batch_id = @BatchId",
            new { BatchId = batchId, Accepted = accepted, Rejected = rejected }, cancellationToken: ct));
    }

    /// <summary>Removes a batch none of whose jobs was queued (it has no jobs).</summary>
    public async Task DeleteAsync(Guid batchId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM batches WHERE batch_id = @BatchId", new { BatchId = batchId },
                                                            cancellationToken: ct));
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
