using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace LoRAQueue.Gateway.Jobs;

/// <summary>
/// A Postgres session advisory lock on (tenant, Idempotency-Key), held on its own connection for as long as a request
/// works under the key, so two requests with one key never both send. A gateway that dies drops its connection, and
/// Postgres releases the lock with it: a retry on another gateway is never locked out by a dead one.
/// </summary>
public sealed class IdempotencyLock : IAsyncDisposable
{
    private readonly NpgsqlConnection _connection;
    private readonly long _lockId;

    private IdempotencyLock(NpgsqlConnection connection, long lockId)
    {
        _connection = connection;
        _lockId = lockId;
    }

    /// <summary>The lock, or null when another session holds it (a request with this key is in progress).</summary>
    public static async Task<IdempotencyLock?> TryAcquireAsync(NpgsqlDataSource dataSource, string tenant, string key, CancellationToken ct)
    {
        long lockId = LockIdOf(tenant, key);
        var connection = await dataSource.OpenConnectionAsync(ct);
        try
        {
            await using var command = new NpgsqlCommand("SELECT pg_try_advisory_lock(@Id)", connection);
            command.Parameters.AddWithValue("Id", lockId);
            if (await command.ExecuteScalarAsync(ct) is true) return new IdempotencyLock(connection, lockId);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        await connection.DisposeAsync();
        return null;
    }

    /// <summary>The 64-bit advisory lock id of a key: the first 8 bytes of SHA-256(tenant NUL key), the same in every
    /// gateway process (unlike string.GetHashCode).</summary>
    public static long LockIdOf(string tenant, string key)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"idempotency\0{tenant}\0{key}"));
        return BinaryPrimitives.ReadInt64BigEndian(hash);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await using var command = new NpgsqlCommand("SELECT pg_advisory_unlock(@Id)", _connection);
            command.Parameters.AddWithValue("Id", _lockId);
            await command.ExecuteScalarAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            // The connection is broken: the server already released the lock with the session.
        }
        finally
        {
            await _connection.DisposeAsync();
        }
    }
}
