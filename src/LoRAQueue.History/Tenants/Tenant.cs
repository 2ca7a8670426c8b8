namespace LoRAQueue.History.Tenants;

/// <summary>A tenant: owns jobs, batches, adapters and webhook deliveries, and has its own limits.</summary>
public sealed record Tenant(
    string Id,
    string Name,
    string WebhookSecret,
    string? WebhookSecretPrevious,
    int MaxBodyBytes,
    int MaxBatchLines,
    int RequestsPerMinute,
    DateTimeOffset CreatedAt)
{
    /// <summary>The secrets a webhook is signed with: current first, previous second while a rotation is in progress.</summary>
    public IReadOnlyList<string> WebhookSecrets =>
        WebhookSecretPrevious is { Length: > 0 } previous ? [WebhookSecret, previous] : [WebhookSecret];
}

/// <summary>A tenant's limits; null leaves a limit as it is (or at the database default when creating).</summary>
public sealed record TenantLimits(int? MaxBodyBytes = null, int? MaxBatchLines = null, int? RequestsPerMinute = null)
{
    internal void Validate()
    {
        if (MaxBodyBytes is < 1) throw new TenantException($"max_body_bytes must be at least 1 (got {MaxBodyBytes})");
        if (MaxBatchLines is < 1) throw new TenantException($"max_batch_lines must be at least 1 (got {MaxBatchLines})");
        if (RequestsPerMinute is < 1) throw new TenantException($"requests_per_minute must be at least 1 (got {RequestsPerMinute})");
    }
}

/// <summary>What <see cref="TenantStore.CreateAsync"/> returns: the API key and webhook secret are shown only this once
/// (the key is stored as a hash; the secret can be rotated but not read back through the CLI).</summary>
public sealed record CreatedTenant(Tenant Tenant, string ApiKey, string WebhookSecret);

/// <summary>An API key as listings show it: never the key itself, only its first characters.</summary>
public sealed record ApiKeyInfo(string Prefix, string Tenant, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt)
{
    public bool IsRevoked => RevokedAt is not null;
}

/// <summary>A tenant operation that cannot be done as asked; the message says why.</summary>
public sealed class TenantException(string message) : Exception(message);
