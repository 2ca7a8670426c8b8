using Dapper;
using Npgsql;

namespace LoRAQueue.Webhooks;

/// <summary>Read and replay deliveries (tables <c>webhook_deliveries</c> and <c>webhook_attempts</c>), always within one tenant.</summary>
public sealed class WebhookDeliveryStore(NpgsqlDataSource dataSource)
{
    public const int MaxListLimit = 1000;

    internal const string Columns = """
        id AS Id, tenant AS Tenant, event_type AS EventType, job_id AS JobId, batch_id AS BatchId, url AS Url,
        status AS Status, attempt_count AS AttemptCount, created_at AS CreatedAt, next_attempt_at AS NextAttemptAt,
        delivered_at AS DeliveredAt
        """;

    /// <summary>Newest first; every filter is optional. <paramref name="batchId"/> matches the batch's own event and
    /// the events of its jobs.</summary>
    public async Task<IReadOnlyList<WebhookDelivery>> ListAsync(string tenant, Guid? jobId, Guid? batchId, DeliveryStatus? status,
                                                                 int limit, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        if (limit is < 1 or > MaxListLimit)
            throw new ArgumentOutOfRangeException(nameof(limit), limit, $"limit must be between 1 and {MaxListLimit}");
        string sql = $"""
            SELECT {Columns} FROM webhook_deliveries
            WHERE tenant = @Tenant
              AND (@JobId::uuid IS NULL OR job_id = @JobId)
              AND (@BatchId::uuid IS NULL OR batch_id = @BatchId)
              AND (@Status::text IS NULL OR status = @Status)
            ORDER BY created_at DESC, id DESC
            LIMIT @Limit
            """;
        var parameters = new { Tenant = tenant, JobId = jobId, BatchId = batchId,
                               Status = status is { } s ? DeliveryStatuses.Name(s) : null, Limit = limit };
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<DeliveryRow>(new CommandDefinition(sql, parameters, cancellationToken: ct));
        return rows.Select(r => r.ToDelivery()).ToList();
    }

    /// <summary>The delivery and its attempts in order, or null when the tenant has no such delivery.</summary>
    public async Task<(WebhookDelivery Delivery, IReadOnlyList<WebhookAttempt> Attempts)?> GetAsync(string tenant, Guid id, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<DeliveryRow>(new CommandDefinition(
            $"SELECT {Columns} FROM webhook_deliveries WHERE tenant = @Tenant AND id = @Id", new { Tenant = tenant, Id = id },
            cancellationToken: ct));
        if (row is null) return null;
        var attempts = await connection.QueryAsync<AttemptRow>(new CommandDefinition("""
            SELECT number AS Number, attempted_at AS AttemptedAt, status_code AS StatusCode, latency_ms AS LatencyMs,
                   error AS Error
            FROM webhook_attempts
            WHERE delivery_id = @Id ORDER BY number
            """, new { Id = id }, cancellationToken: ct));
        return (row.ToDelivery(), attempts.Select(a => a.ToAttempt()).ToList());
    }

    /// <summary>Makes the delivery pending and due now, with the whole retry schedule ahead of it again; earlier
    /// attempts are kept. False when the tenant has no such delivery.</summary>
    public async Task<bool> ReplayAsync(string tenant, Guid id, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        int updated = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE webhook_deliveries
            SET status = 'pending', next_attempt_at = now(), round_attempts = 0, delivered_at = NULL
            WHERE tenant = @Tenant AND id = @Id
            """, new { Tenant = tenant, Id = id }, cancellationToken: ct));
        return updated == 1;
    }

    internal sealed class DeliveryRow
    {
        public Guid Id { get; set; }
        public string Tenant { get; set; } = "";
        public string EventType { get; set; } = "";
        public Guid? JobId { get; set; }
        public Guid? BatchId { get; set; }
        public string Url { get; set; } = "";
        public string Status { get; set; } = "";
        public int AttemptCount { get; set; }
        public DateTime CreatedAt { get; set; }
        public DateTime? NextAttemptAt { get; set; }
        public DateTime? DeliveredAt { get; set; }

        public WebhookDelivery ToDelivery() => new(Id, Tenant, EventType, JobId, BatchId, Url, DeliveryStatuses.Parse(Status),
            AttemptCount, DeliveryStatuses.FromUtc(CreatedAt), DeliveryStatuses.FromUtc(NextAttemptAt), DeliveryStatuses.FromUtc(DeliveredAt));
    }

    private sealed class AttemptRow
    {
        public int Number { get; set; }
        public DateTime AttemptedAt { get; set; }
        public int? StatusCode { get; set; }
        public double LatencyMs { get; set; }
        public string? Error { get; set; }

        public WebhookAttempt ToAttempt() => new(Number, DeliveryStatuses.FromUtc(AttemptedAt), StatusCode, LatencyMs, Error);
    }
}
