using LoRAQueue.LoadState;

namespace LoRAQueue.Hosting;

/// <summary>LoRAQueue:Postgres:ConnectionString (env LORAQUEUE__POSTGRES__CONNECTIONSTRING); whether it is required is the
/// host's call (<see cref="InfrastructureSettings.PostgresConnectionString"/>).</summary>
public sealed class PostgresOptions : ISectionOptions
{
    public static string Section => "LoRAQueue:Postgres";
    public string? ConnectionString { get; set; }
    public IEnumerable<string> Problems() => [];
}

/// <summary>LoRAQueue:Redis:Configuration (StackExchange.Redis syntax) and KeyPrefix (several deployments, or tests, can share
/// one Redis).</summary>
public sealed class RedisOptions : ISectionOptions
{
    public static string Section => "LoRAQueue:Redis";
    public string? Configuration { get; set; }
    public string? KeyPrefix { get; set; }
    public IEnumerable<string> Problems() => [];
}

/// <summary>LoRAQueue:LoadState:HeartbeatTtlSeconds, DemandBucketSeconds, DemandRetentionSeconds (workers, schedulers and
/// gateways must agree on them); unset = <see cref="LoadStateOptions"/>'s defaults.</summary>
public sealed class LoadStateSettings : ISectionOptions
{
    public static string Section => "LoRAQueue:LoadState";
    public double? HeartbeatTtlSeconds { get; set; }
    public double? DemandBucketSeconds { get; set; }
    public double? DemandRetentionSeconds { get; set; }

    public IEnumerable<string> Problems() =>
        new[] { (nameof(HeartbeatTtlSeconds), HeartbeatTtlSeconds), (nameof(DemandBucketSeconds), DemandBucketSeconds),
                (nameof(DemandRetentionSeconds), DemandRetentionSeconds) }
            .Where(s => s.Item2 is not null)
            .SelectMany(s => OptionChecks.Seconds(Section, s.Item1, s.Item2!.Value, min: 0.001, max: 365 * 86_400));

    public LoadStateOptions ToOptions()
    {
        var defaults = new LoadStateOptions();
        return defaults with
        {
            HeartbeatTtl = HeartbeatTtlSeconds is { } h ? TimeSpan.FromSeconds(h) : defaults.HeartbeatTtl,
            DemandBucket = DemandBucketSeconds is { } b ? TimeSpan.FromSeconds(b) : defaults.DemandBucket,
            DemandRetention = DemandRetentionSeconds is { } r ? TimeSpan.FromSeconds(r) : defaults.DemandRetention,
        };
    }
}

/// <summary>LoRAQueue:Model:Path (env LORAQUEUE__MODEL__PATH): the base model directory, for the hosts that need it.</summary>
public sealed class ModelOptions : ISectionOptions
{
    public static string Section => "LoRAQueue:Model";
    public string? Path { get; set; }
    public IEnumerable<string> Problems() => OptionChecks.Required(Section, nameof(Path), Path, "the base model directory");
}

/// <summary>LoRAQueue:AdapterStore:Path (env LORAQUEUE__ADAPTERSTORE__PATH): where adapters are registered and loaded from.</summary>
public sealed class AdapterStoreOptions : ISectionOptions
{
    public static string Section => "LoRAQueue:AdapterStore";
    public string? Path { get; set; }
    public IEnumerable<string> Problems() => OptionChecks.Required(Section, nameof(Path), Path, "the adapter store directory");
}
