using Dapper;
using Npgsql;

namespace LoRAQueue.Webhooks;

/// <summary>A pending delivery a dispatcher has claimed, with the tenant's secrets as they are now (null when the
/// tenant has no row).</summary>
internal sealed record ClaimedDelivery(Guid Id, string Tenant, string EventType, string Url, string Body, int AttemptCount,
    int RoundAttempts, string? Secret, string? PreviousSecret, string? TraceParent);

/// <summary>What one HTTP try came to. <see cref="Retryable"/> is false for errors another try cannot fix.</summary>
internal sealed record AttemptOutcome(DateTimeOffset At, int? StatusCode, double LatencyMs, string? Error, bool Retryable = true)
{
    public bool Succeeded => Error is null;
}

/// <summary>A batch whose last job just became terminal.</summary>
internal sealed record CompletedBatch(Guid BatchId, string Tenant, string? WebhookUrl, int Accepted, int Rejected,
    int Completed, int Failed, DateTimeOffset CompletedAt);

/// <summary>The write side of the deliveries: enqueue, claim, record, and batch completion. Every step is one
/// statement or one transaction, so several processes can run dispatchers and watchers on the same database.</summary>
internal sealed class DeliveryQueue(NpgsqlDataSource dataSource)
{
    /// <summary>False when the event already has its delivery (a redelivered message).</summary>
    public async Task<bool> EnqueueAsync(string tenant, string eventType, Guid? jobId, Guid? batchId, string url, string body,
                                         CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await Enqueue(connection, null, tenant, eventType, jobId, batchId, url, body, ct);
    }

    private static async Task<bool> Enqueue(NpgsqlConnection connection, NpgsqlTransaction? transaction, string tenant, string eventType,
                                            Guid? jobId, Guid? batchId, string url, string body, CancellationToken ct)
    {
        int inserted = await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO webhook_deliveries (id, tenant, event_type, job_id, batch_id, url, body, status, next_attempt_at, trace_parent)
            VALUES (@Id, @Tenant, @EventType, @JobId, @BatchId, @Url, @Body, 'pending', now(), @TraceParent)
            ON CONFLICT DO NOTHING
            """, new { Id = Guid.CreateVersion7(), Tenant = tenant, EventType = eventType, JobId = jobId, BatchId = batchId, Url = url, Body = body,
                       TraceParent = WebhookTracing.CurrentTraceParent() },
            transaction, cancellationToken: ct));
        return inserted == 1;
    }

    /// <summary>Takes up to <paramref name="limit"/> due deliveries that no other dispatcher holds and pushes their due
    /// time out by <paramref name="lease"/>: if this process dies mid-send, another one retries after the lease.
    /// <paramref name="inFlight"/> are this dispatcher's own unfinished ones: their lease may have run out while the
    /// database was down, but they were sent and wait only to be recorded.</summary>
    public async Task<IReadOnlyList<ClaimedDelivery>> ClaimDueAsync(int limit, TimeSpan lease, IReadOnlyCollection<Guid> inFlight,
                                                                    CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<ClaimedDelivery>(new CommandDefinition("""
            WITH due AS (
                SELECT id FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= now() AND NOT (id = ANY(@InFlight))
                ORDER BY next_attempt_at
                LIMIT @Limit
                FOR UPDATE SKIP LOCKED)
            UPDATE webhook_deliveries d SET next_attempt_at = now() + @LeaseMs * interval '1 millisecond'
            FROM due WHERE d.id = due.id
            RETURNING d.id AS Id, d.tenant AS Tenant, d.event_type AS EventType, d.url AS Url, d.body AS Body,
                      d.attempt_count AS AttemptCount, d.round_attempts AS RoundAttempts,
                      (SELECT t.webhook_secret FROM tenants t WHERE t.id = d.tenant) AS Secret,
                      (SELECT t.webhook_secret_previous FROM tenants t WHERE t.id = d.tenant) AS PreviousSecret,
                      d.trace_parent AS TraceParent
            """, new { Limit = limit, LeaseMs = lease.TotalMilliseconds, InFlight = inFlight.ToArray() }, cancellationToken: ct));
        return rows.ToList();
    }

    /// <summary>Records the attempt and the delivery's next state in one transaction. <paramref name="retryDelay"/>
    /// null means no further attempt (delivered or dead). Returns the new status, or null when the claim was lost
    /// (another dispatcher recorded an attempt after this one's lease ran out): then nothing is written.</summary>
    public async Task<DeliveryStatus?> RecordAttemptAsync(ClaimedDelivery delivery, AttemptOutcome outcome, TimeSpan? retryDelay,
                                                          CancellationToken ct)
    {
        var status = outcome.Succeeded ? DeliveryStatus.Delivered : retryDelay is null ? DeliveryStatus.Dead : DeliveryStatus.Pending;
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        int updated = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE webhook_deliveries
            SET attempt_count = attempt_count + 1,
                round_attempts = round_attempts + 1,
                status = @Status,
                next_attempt_at = CASE WHEN @Status = 'pending' THEN now() + @DelayMs * interval '1 millisecond' END,
                delivered_at = CASE WHEN @Status = 'delivered' THEN now() END
            WHERE id = @Id AND attempt_count = @AttemptCount AND status = 'pending'
            """, new { delivery.Id, delivery.AttemptCount, Status = DeliveryStatuses.Name(status),
                       DelayMs = (retryDelay ?? TimeSpan.Zero).TotalMilliseconds }, transaction, cancellationToken: ct));
        if (updated == 0) return null;
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO webhook_attempts (delivery_id, number, attempted_at, status_code, latency_ms, error)
            VALUES (@Id, @Number, @At, @StatusCode, @LatencyMs, @Error)
            """, new { delivery.Id, Number = delivery.AttemptCount + 1, outcome.At, outcome.StatusCode, outcome.LatencyMs, outcome.Error },
            transaction, cancellationToken: ct));
        await transaction.CommitAsync(ct);
        return status;
    }

    /// <summary>
    /// Marks finished batches complete and enqueues their batch.completed deliveries, in one transaction. A batch is
    /// finished when every accepted job is in the history and none is queued or running; the UPDATE's
    /// <c>completed_at IS NULL</c> lets exactly one watcher (of however many processes) complete each batch.
    /// </summary>
    public async Task<IReadOnlyList<CompletedBatch>> CompleteBatchesAsync(int limit, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var batches = (await connection.QueryAsync<CompletedBatchRow>(new CommandDefinition("""
            UPDATE batches b SET completed_at = now()
            WHERE b.batch_id IN (
                    SELECT o.batch_id FROM batches o
                    WHERE o.completed_at IS NULL
                      AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.batch_id = o.batch_id AND j.status_rank < 2)
                      AND (SELECT count(*) FROM jobs j WHERE j.batch_id = o.batch_id) >= o.accepted
                    ORDER BY o.created_at
                    LIMIT @Limit)
              AND b.completed_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.batch_id = b.batch_id AND j.status_rank < 2)
            RETURNING b.batch_id AS BatchId, b.tenant AS Tenant, b.webhook_url AS WebhookUrl, b.accepted AS Accepted,
                      b.rejected AS Rejected, b.completed_at AS CompletedAt,
                      (SELECT count(*)::int FROM jobs j WHERE j.batch_id = b.batch_id AND j.status = 'completed') AS Completed,
                      (SELECT count(*)::int FROM jobs j WHERE j.batch_id = b.batch_id AND j.status = 'failed') AS Failed
            """, new { Limit = limit }, transaction, cancellationToken: ct))).Select(r => r.ToBatch()).ToList();
        foreach (var batch in batches.Where(b => !string.IsNullOrEmpty(b.WebhookUrl)))
        {
            string body = WebhookBodies.Batch(batch.BatchId, batch.Completed, batch.Failed, batch.Accepted, batch.Rejected, batch.CompletedAt);
            await Enqueue(connection, transaction, batch.Tenant, WebhookEventTypes.BatchCompleted, null, batch.BatchId,
                          batch.WebhookUrl!, body, ct);
        }
        await transaction.CommitAsync(ct);
        return batches;
    }

    private sealed class CompletedBatchRow
    {
        public Guid BatchId { get; set; }
        public string Tenant { get; set; } = "";
        public string? WebhookUrl { get; set; }
        public int Accepted { get; set; }
        public int Rejected { get; set; }
        public DateTime CompletedAt { get; set; }
        public int Completed { get; set; }
        public int Failed { get; set; }

        public CompletedBatch ToBatch() => new(BatchId, Tenant, WebhookUrl, Accepted, Rejected, Completed, Failed,
                                               DeliveryStatuses.FromUtc(CompletedAt));
    }
}
