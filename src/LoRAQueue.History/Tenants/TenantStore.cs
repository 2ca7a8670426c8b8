using System.Text.RegularExpressions;
using Dapper;
using Npgsql;

namespace LoRAQueue.History.Tenants;

/// <summary>
/// Tenants, their API keys and webhook secrets in Postgres (tables tenants and api_keys, migrations/0004). The gateway
/// authenticates with <see cref="FindByKeyAsync"/>; the CLI administers tenants with the rest. Every method takes plain
/// values and throws <see cref="TenantException"/> with a message a user can act on.
/// </summary>
public sealed partial class TenantStore(NpgsqlDataSource dataSource)
{
    private const string Columns = """
        id AS Id, name AS Name, webhook_secret AS WebhookSecret, webhook_secret_previous AS WebhookSecretPrevious,
        max_body_bytes AS MaxBodyBytes, max_batch_lines AS MaxBatchLines, requests_per_minute AS RequestsPerMinute,
        created_at AS CreatedAt
        """;

    /// <summary>Creates a tenant with one API key and a webhook secret (both returned, shown once).</summary>
    public async Task<CreatedTenant> CreateAsync(string id, string name, TenantLimits? limits = null, CancellationToken ct = default)
    {
        CheckId(id);
        if (string.IsNullOrWhiteSpace(name)) name = id;
        limits ??= new TenantLimits();
        limits.Validate();
        string secret = WebhookSecrets.New();
        string key = ApiKeys.Generate();

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<TenantRow>(new CommandDefinition($"""
            INSERT INTO tenants (id, name, webhook_secret, max_body_bytes, max_batch_lines, requests_per_minute)
            VALUES (@Id, @Name, @Secret, COALESCE(@MaxBodyBytes, 4194304), COALESCE(@MaxBatchLines, 10000),
                    COALESCE(@RequestsPerMinute, 600))
            ON CONFLICT (id) DO NOTHING
            RETURNING {Columns}
            """, new { Id = id, Name = name.Trim(), Secret = secret, limits.MaxBodyBytes, limits.MaxBatchLines, limits.RequestsPerMinute },
            transaction, cancellationToken: ct))
            ?? throw new TenantException($"tenant '{id}' already exists");
        await InsertKeyAsync(connection, transaction, id, key, ct);
        await transaction.CommitAsync(ct);
        return new CreatedTenant(row.ToTenant(), key, secret);
    }

    public async Task<Tenant?> GetAsync(string id, CancellationToken ct = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<TenantRow>(
            new CommandDefinition($"SELECT {Columns} FROM tenants WHERE id = @Id", new { Id = id }, cancellationToken: ct));
        return row?.ToTenant();
    }

    /// <summary>Every tenant, ordered by id.</summary>
    public async Task<IReadOnlyList<Tenant>> ListAsync(CancellationToken ct = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<TenantRow>(
            new CommandDefinition($"SELECT {Columns} FROM tenants ORDER BY id COLLATE \"C\"", cancellationToken: ct));
        return rows.Select(r => r.ToTenant()).ToList();
    }

    /// <summary>Changes the limits given (null ones stay); returns the tenant as it is now.</summary>
    public async Task<Tenant> SetLimitsAsync(string id, TenantLimits limits, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(limits);
        limits.Validate();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<TenantRow>(new CommandDefinition($"""
            UPDATE tenants SET max_body_bytes = COALESCE(@MaxBodyBytes, max_body_bytes),
                               max_batch_lines = COALESCE(@MaxBatchLines, max_batch_lines),
                               requests_per_minute = COALESCE(@RequestsPerMinute, requests_per_minute)
            WHERE id = @Id RETURNING {Columns}
            """, new { Id = id, limits.MaxBodyBytes, limits.MaxBatchLines, limits.RequestsPerMinute }, cancellationToken: ct));
        return row?.ToTenant() ?? throw Unknown(id);
    }

    /// <summary>A new API key for the tenant (shown once; earlier keys stay valid until revoked).</summary>
    public async Task<string> CreateKeyAsync(string tenant, CancellationToken ct = default)
    {
        string key = ApiKeys.Generate();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        bool exists = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM tenants WHERE id = @Id)", new { Id = tenant }, transaction, cancellationToken: ct));
        if (!exists) throw Unknown(tenant);
        await InsertKeyAsync(connection, transaction, tenant, key, ct);
        await transaction.CommitAsync(ct);
        return key;
    }

    /// <summary>The tenant's keys, newest first, revoked ones included.</summary>
    public async Task<IReadOnlyList<ApiKeyInfo>> ListKeysAsync(string tenant, CancellationToken ct = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<KeyRow>(new CommandDefinition("""
            SELECT key_prefix AS Prefix, tenant AS Tenant, created_at AS CreatedAt, revoked_at AS RevokedAt
            FROM api_keys WHERE tenant = @Tenant ORDER BY created_at DESC
            """, new { Tenant = tenant }, cancellationToken: ct));
        return rows.Select(r => new ApiKeyInfo(r.Prefix, r.Tenant, Timestamps.FromUtc(r.CreatedAt), Timestamps.FromUtc(r.RevokedAt))).ToList();
    }

    /// <summary>
    /// Revokes the tenant's key given whole or by its prefix (as listings show it). Returns how many keys were revoked:
    /// 0 when none of the tenant's unrevoked keys matches. Revocation takes effect on the next request.
    /// </summary>
    public async Task<int> RevokeKeyAsync(string tenant, string keyOrPrefix, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyOrPrefix);
        bool whole = ApiKeys.LooksLikeKey(keyOrPrefix);
        if (!whole && keyOrPrefix.Length < ApiKeys.PrefixLength)
            throw new TenantException($"'{keyOrPrefix}' is too short: give the whole key or its {ApiKeys.PrefixLength}-character prefix");
        string condition = whole ? "key_hash = @Hash" : "key_prefix = @Prefix";
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            $"UPDATE api_keys SET revoked_at = now() WHERE tenant = @Tenant AND revoked_at IS NULL AND {condition}",
            new { Tenant = tenant, Hash = whole ? ApiKeys.Hash(keyOrPrefix) : null, Prefix = keyOrPrefix }, cancellationToken: ct));
    }

    /// <summary>
    /// Starts a secret rotation: the current secret becomes the previous one (deliveries carry both signatures until
    /// <see cref="ClearPreviousSecretAsync"/>), and a new current secret is returned.
    /// </summary>
    public async Task<string> RotateSecretAsync(string tenant, CancellationToken ct = default)
    {
        string secret = WebhookSecrets.New();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        int updated = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE tenants SET webhook_secret_previous = webhook_secret, webhook_secret = @Secret WHERE id = @Id
            """, new { Id = tenant, Secret = secret }, cancellationToken: ct));
        return updated == 1 ? secret : throw Unknown(tenant);
    }

    /// <summary>Ends a rotation: only the current secret signs from now on. False when there was no previous secret.</summary>
    public async Task<bool> ClearPreviousSecretAsync(string tenant, CancellationToken ct = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        int updated = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE tenants SET webhook_secret_previous = NULL WHERE id = @Id AND webhook_secret_previous IS NOT NULL
            """, new { Id = tenant }, cancellationToken: ct));
        if (updated == 0 && await GetAsync(tenant, ct) is null) throw Unknown(tenant);
        return updated == 1;
    }

    /// <summary>The tenant an API key belongs to; null for an unknown or revoked key.</summary>
    public async Task<Tenant?> FindByKeyAsync(string key, CancellationToken ct = default)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 256) return null;
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<TenantRow>(new CommandDefinition($"""
            SELECT {Columns} FROM tenants
            WHERE id = (SELECT tenant FROM api_keys WHERE key_hash = @Hash AND revoked_at IS NULL)
            """, new { Hash = ApiKeys.Hash(key) }, cancellationToken: ct));
        return row?.ToTenant();
    }

    private static Task InsertKeyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string tenant, string key,
                                       CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO api_keys (key_hash, key_prefix, tenant) VALUES (@Hash, @Prefix, @Tenant)",
            new { Hash = ApiKeys.Hash(key), Prefix = ApiKeys.PrefixOf(key), Tenant = tenant }, transaction, cancellationToken: ct));

    private static TenantException Unknown(string id) => new($"there is no tenant '{id}'");

    /// <summary>Tenant ids appear in URLs, logs and queue metadata: keep them short and plain.</summary>
    public static void CheckId(string id)
    {
        if (string.IsNullOrEmpty(id) || !IdPattern().IsMatch(id))
            throw new TenantException(
                $"'{id}' is not a valid tenant id: use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit");
    }

    [GeneratedRegex(@"^[a-z0-9][a-z0-9._-]{0,63}\z")]
    private static partial Regex IdPattern();

    private sealed class TenantRow
    {
        public string Id { get; set; } = "";
        public string Name { get; set; } = "";
        public string WebhookSecret { get; set; } = "";
        public string? WebhookSecretPrevious { get; set; }
        public int MaxBodyBytes { get; set; }
        public int MaxBatchLines { get; set; }
        public int RequestsPerMinute { get; set; }
        public DateTime CreatedAt { get; set; }

        public Tenant ToTenant() => new(Id, Name, WebhookSecret, WebhookSecretPrevious, MaxBodyBytes, MaxBatchLines,
                                        RequestsPerMinute, Timestamps.FromUtc(CreatedAt));
    }

    private sealed class KeyRow
    {
        public string Prefix { get; set; } = "";
        public string Tenant { get; set; } = "";
        public DateTime CreatedAt { get; set; }
        public DateTime? RevokedAt { get; set; }
    }
}
