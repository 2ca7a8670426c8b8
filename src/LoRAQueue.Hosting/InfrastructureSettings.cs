using LoRAQueue.LoadState;
using Microsoft.Extensions.Configuration;
using StackExchange.Redis;

namespace LoRAQueue.Hosting;

/// <summary>The infrastructure settings hosts share, read through <see cref="SectionOptions"/>: <see cref="PostgresOptions"/>,
/// <see cref="RedisOptions"/> and the load-state lifetimes (<see cref="LoadStateSettings"/>), which workers and the scheduler
/// must agree on. Bad values throw <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> naming the key.</summary>
public static class InfrastructureSettings
{
    public static string PostgresConnectionString(IConfiguration configuration) =>
        OptionalPostgresConnectionString(configuration)
        ?? throw new InvalidOperationException("configuration LoRAQueue:Postgres:ConnectionString (env LORAQUEUE__POSTGRES__CONNECTIONSTRING) is not set");

    public static string? OptionalPostgresConnectionString(IConfiguration configuration) =>
        SectionOptions.Read<PostgresOptions>(configuration).ConnectionString is { Length: > 0 } value ? value : null;

    public static string? RedisConfiguration(IConfiguration configuration) =>
        SectionOptions.Read<RedisOptions>(configuration).Configuration is { Length: > 0 } value ? value : null;

    public static string RedisKeyPrefix(IConfiguration configuration) =>
        SectionOptions.Read<RedisOptions>(configuration).KeyPrefix is { Length: > 0 } value ? value : LoadStateKeys.DefaultPrefix;

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

    /// <summary>The lifetimes under LoRAQueue:LoadState; defaults from <see cref="LoadState.LoadStateOptions"/>.</summary>
    public static LoadStateOptions LoadStateOptions(IConfiguration configuration) =>
        SectionOptions.Read<LoadStateSettings>(configuration).ToOptions();
}
