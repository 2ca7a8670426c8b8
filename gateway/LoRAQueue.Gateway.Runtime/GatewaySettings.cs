using LoRAQueue.Hosting;

namespace LoRAQueue.Gateway;

/// <summary>
/// The gateway's configuration. Shared keys: LoRAQueue:Postgres:ConnectionString (required), LoRAQueue:Model:Path and
/// LoRAQueue:AdapterStore:Path (required: the model's context and tokenizer bound prompts; adapters are registered from
/// the store), LoRAQueue:Redis:Configuration (optional: checked by /healthz when set). Gateway keys: LoRAQueue:Gateway:*
/// (<see cref="GatewayOptions"/>).
/// </summary>
public sealed record GatewaySettings
{
    public required string PostgresConnectionString { get; init; }
    public required string ModelPath { get; init; }
    public required string AdapterStorePath { get; init; }
    public string? RedisConfiguration { get; init; }
    /// <summary>Largest max_tokens a job may ask for (also capped by the model's context − 1).</summary>
    public int MaxTokens { get; init; } = 4096;
    /// <summary>Ceiling on any request body, whatever a tenant's own limit says (Kestrel's server-wide limit).</summary>
    public long MaxBodyBytes { get; init; } = 64L << 20;
    /// <summary>Ceiling on a multipart adapter upload (POST /v1/adapters), instead of <see cref="MaxBodyBytes"/> and the
    /// tenant's max_body_bytes, which are sized for JSON.</summary>
    public long MaxAdapterUploadBytes { get; init; } = 512L << 20;
    /// <summary>Apply migrations/*.sql at start-up (under the migrator's advisory lock).</summary>
    public bool MigrateOnStart { get; init; } = true;
    /// <summary>How long a submission waits for the broker to take its jobs before answering 503 with Retry-After.</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Connections of the idempotency-lock pool: how many keyed submissions one gateway works on at once.</summary>
    public int IdempotencyLockConnections { get; init; } = 32;

    /// <summary>The validated settings (<see cref="SectionOptions.Read{T}"/>); a bad or missing one throws
    /// <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> naming the key.</summary>
    public static GatewaySettings From(IConfiguration configuration)
    {
        var gateway = SectionOptions.Read<GatewayOptions>(configuration);
        return new GatewaySettings
        {
            PostgresConnectionString = InfrastructureSettings.PostgresConnectionString(configuration),
            ModelPath = Path.GetFullPath(SectionOptions.Read<ModelOptions>(configuration).Path!),
            AdapterStorePath = Path.GetFullPath(SectionOptions.Read<AdapterStoreOptions>(configuration).Path!),
            RedisConfiguration = InfrastructureSettings.RedisConfiguration(configuration),
            MaxTokens = gateway.MaxTokens,
            MaxBodyBytes = gateway.MaxBodyBytes,
            MaxAdapterUploadBytes = (long)gateway.MaxAdapterUploadMb << 20,
            MigrateOnStart = gateway.MigrateOnStart,
            SendTimeout = TimeSpan.FromSeconds(gateway.SendTimeoutSeconds),
            IdempotencyLockConnections = gateway.IdempotencyLockConnections,
        };
    }
}

/// <summary>Section LoRAQueue:Gateway (env LORAQUEUE__GATEWAY__KEY).</summary>
public sealed class GatewayOptions : ISectionOptions
{
    public static string Section => "LoRAQueue:Gateway";
    public int MaxTokens { get; set; } = 4096;
    public long MaxBodyBytes { get; set; } = 64L << 20;
    public int MaxAdapterUploadMb { get; set; } = 512;
    public bool MigrateOnStart { get; set; } = true;
    public double SendTimeoutSeconds { get; set; } = 5;
    public int IdempotencyLockConnections { get; set; } = 32;

    public IEnumerable<string> Problems() =>
        OptionChecks.AtLeast(Section, nameof(MaxTokens), MaxTokens, 1).Concat(OptionChecks.AtLeast(Section, nameof(MaxBodyBytes), MaxBodyBytes, 1))
            .Concat(OptionChecks.AtLeast(Section, nameof(MaxAdapterUploadMb), MaxAdapterUploadMb, 1))
            .Concat(OptionChecks.Seconds(Section, nameof(SendTimeoutSeconds), SendTimeoutSeconds, min: 0.1, max: 300))
            .Concat(OptionChecks.AtLeast(Section, nameof(IdempotencyLockConnections), IdempotencyLockConnections, 1));
}
