using LoRAQueue.Hosting;
using LoRAQueue.Messaging;

namespace LoRAQueue.Gateway;

/// <summary>
/// The gateway's configuration. Shared keys: LoRAQueue:Postgres:ConnectionString (required), LoRAQueue:Model:Path and
/// LoRAQueue:AdapterStore:Path (required: the model's context and tokenizer bound prompts; adapters are registered from
/// the store), LoRAQueue:Redis:Configuration (optional: checked by /healthz when set). Gateway keys: LoRAQueue:Gateway:*.
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
    /// <summary>Apply migrations/*.sql at start-up (under the migrator's advisory lock).</summary>
    public bool MigrateOnStart { get; init; } = true;

    public static GatewaySettings From(IConfiguration configuration)
    {
        var gateway = configuration.GetSection("LoRAQueue:Gateway");
        var d = new GatewaySettings { PostgresConnectionString = "", ModelPath = "", AdapterStorePath = "" };
        return new GatewaySettings
        {
            PostgresConnectionString = InfrastructureSettings.PostgresConnectionString(configuration),
            ModelPath = Path.GetFullPath(Required(configuration, "LoRAQueue:Model:Path", "LORAQUEUE__MODEL__PATH",
                "the base model directory (its config.json and tokenizer bound prompt lengths)")),
            AdapterStorePath = Path.GetFullPath(Required(configuration, "LoRAQueue:AdapterStore:Path", "LORAQUEUE__ADAPTERSTORE__PATH",
                "the adapter store directory (POST /v1/adapters registers adapters found there)")),
            RedisConfiguration = InfrastructureSettings.RedisConfiguration(configuration),
            MaxTokens = ConfigValues.PositiveInt(gateway, "MaxTokens") ?? d.MaxTokens,
            MaxBodyBytes = ConfigValues.PositiveInt(gateway, "MaxBodyBytes") ?? d.MaxBodyBytes,
            MigrateOnStart = ConfigValues.Bool(gateway, "MigrateOnStart") ?? d.MigrateOnStart,
        };
    }

    private static string Required(IConfiguration configuration, string key, string variable, string what) =>
        configuration[key] is { Length: > 0 } value ? value
            : throw new InvalidOperationException($"configuration {key} (env {variable}) must name {what}");
}
