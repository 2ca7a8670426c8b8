using Npgsql;

namespace LoRAQueue.Gateway.Jobs;

/// <summary>
/// The connections idempotency locks are held on: a pool of their own. A keyed request holds its lock's connection for its
/// whole length and needs other connections meanwhile (key lookup, admission, history); on the shared pool, as many keyed
/// requests as the pool has connections took them all and waited for one more, until the pool's timeout failed them all
/// (seen at 8 req/s in the 32-worker cluster bench). When every lock connection is busy a request waits up to
/// <see cref="AcquireTimeoutSeconds"/> and is then answered 503 with Retry-After, like any database outage.
/// </summary>
public sealed class IdempotencyLockPool(NpgsqlDataSource dataSource) : IAsyncDisposable
{
    public const int AcquireTimeoutSeconds = 5;

    public NpgsqlDataSource DataSource => dataSource;

    public static IdempotencyLockPool Create(string connectionString, int connections) =>
        new(NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString)
        {
            MaxPoolSize = connections,
            Timeout = AcquireTimeoutSeconds,
            ApplicationName = "loraqueue-idempotency-locks",
        }.ConnectionString));

    public ValueTask DisposeAsync() => dataSource.DisposeAsync();
}
