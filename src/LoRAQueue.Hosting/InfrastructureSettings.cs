using System.Globalization;
using LoRAQueue.LoadState;
using Microsoft.Extensions.Configuration;
using StackExchange.Redis;

namespace LoRAQueue.Hosting;

/// <summary>The infrastructure settings hosts share: LoRAQueue:Postgres:ConnectionString, LoRAQueue:Redis:Configuration and
/// LoRAQueue:Redis:KeyPrefix (env LORAQUEUE__REDIS__KEYPREFIX; several deployments, or tests, can share one Redis), and the
/// load-state lifetimes under LoRAQueue:LoadState, which workers and the scheduler must agree on.</summary>
public static class InfrastructureSettings
{
    public static string PostgresConnectionString(IConfiguration configuration) =>
        configuration["LoRAQueue:Postgres:ConnectionString"] is { Length: > 0 } value ? value
            : throw new InvalidOperationException("configuration LoRAQueue:Postgres:ConnectionString (env LORAQUEUE__POSTGRES__CONNECTIONSTRING) is not set");

    public static string? RedisConfiguration(IConfiguration configuration) =>
        configuration["LoRAQueue:Redis:Configuration"] is { Length: > 0 } value ? value : null;

    public static string RedisKeyPrefix(IConfiguration configuration) =>
        configuration["LoRAQueue:Redis:KeyPrefix"] is { Length: > 0 } value ? value : LoadStateKeys.DefaultPrefix;

    /// <summary>Connects without failing when Redis is down: the multiplexer keeps retrying in the background, so a host
    /// starts and serves through a Redis outage and picks the connection up when Redis is back.</summary>
    public static IConnectionMultiplexer ConnectRedis(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        return ConnectionMultiplexer.Connect(options);
    }

    /// <summary>The load state as configured: <see cref="RedisKeyPrefix"/> and <see cref="LoadStateOptions(IConfiguration)"/>,
    /// which workers, schedulers and gateways must share.</summary>
    public static RedisLoadState CreateLoadState(IConnectionMultiplexer redis, IConfiguration configuration) =>
        new(redis, LoadStateOptions(configuration), RedisKeyPrefix(configuration));

    /// <summary>LoRAQueue:LoadState:HeartbeatTtlSeconds, DemandBucketSeconds, DemandRetentionSeconds; defaults from
    /// <see cref="LoadStateOptions"/>.</summary>
    public static LoadStateOptions LoadStateOptions(IConfiguration configuration)
    {
        var section = configuration.GetSection("LoRAQueue:LoadState");
        var defaults = new LoadStateOptions();
        TimeSpan Seconds(string key, TimeSpan fallback)
        {
            if (section[key] is not { Length: > 0 } text) return fallback;
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || !(seconds > 0))
                throw new FormatException($"configuration LoRAQueue:LoadState:{key} = '{text}': expected a positive number of seconds");
            return TimeSpan.FromSeconds(seconds);
        }
        return defaults with
        {
            HeartbeatTtl = Seconds("HeartbeatTtlSeconds", defaults.HeartbeatTtl),
            DemandBucket = Seconds("DemandBucketSeconds", defaults.DemandBucket),
            DemandRetention = Seconds("DemandRetentionSeconds", defaults.DemandRetention),
        };
    }
}
