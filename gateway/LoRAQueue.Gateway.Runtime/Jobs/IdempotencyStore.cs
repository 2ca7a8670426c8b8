using Dapper;
using Npgsql;

namespace LoRAQueue.Gateway.Jobs;

/// <summary>
/// Idempotency-Key → job or batch, per tenant (table idempotency_keys). The SHA-256 of the request tells a retry of the
/// same request (answered with the first job's or batch's id) from a different request reusing the key (refused).
/// A batch's key is claimed by <see cref="Batches.BatchStore.CreateAsync"/>, in the transaction that creates the batch.
/// </summary>
public sealed class IdempotencyStore(NpgsqlDataSource dataSource, IdempotencyLockPool locks)
{
    /// <summary>Exactly one of <paramref name="JobId"/> and <paramref name="BatchId"/> is set.</summary>
    public sealed record Entry(Guid? JobId, Guid? BatchId, byte[] RequestHash);

    public const int MaxKeyLength = 255;

    /// <summary>The (tenant, key) lock a request holds while it claims, sends and records (on a connection of
    /// <see cref="IdempotencyLockPool"/>, never of the pool its work uses); null when another request holds it.</summary>
    public Task<IdempotencyLock?> TryLockAsync(string tenant, string key, CancellationToken ct) =>
        IdempotencyLock.TryAcquireAsync(locks.DataSource, tenant, key, ct);

    public async Task<Entry?> FindAsync(string tenant, string key, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<Entry>(new CommandDefinition("""
            SELECT job_id AS JobId, batch_id AS BatchId, request_hash AS RequestHash
            FROM idempotency_keys WHERE tenant = @Tenant AND key = @Key
            """, new { Tenant = tenant, Key = key }, cancellationToken: ct));
    }

    /// <summary>Claims the key for <paramref name="jobId"/> before the job is published. Returns null when claimed, or the
    /// entry another request claimed first (a concurrent retry).</summary>
    public async Task<Entry?> TryClaimAsync(string tenant, string key, byte[] requestHash, Guid jobId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        int inserted = await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO idempotency_keys (tenant, key, request_hash, job_id) VALUES (@Tenant, @Key, @Hash, @JobId)
            ON CONFLICT (tenant, key) DO NOTHING
            """, new { Tenant = tenant, Key = key, Hash = requestHash, JobId = jobId }, cancellationToken: ct));
        return inserted == 1 ? null : await FindAsync(tenant, key, ct);
    }
}
