using System.CommandLine;
using LoRAQueue.Hosting;
using LoRAQueue.LoadState;
using Microsoft.Extensions.Configuration;
using StackExchange.Redis;

namespace LoRAQueue.Cli.Commands;

/// <summary>The load state in Redis for commands that read it: the options win over the environment (LORAQUEUE__REDIS__*),
/// which the hosts read too.</summary>
internal static class LoadStateAccess
{
    public static Option<string?> RedisOption(string what) =>
        new("--redis") { Description = $"Redis configuration for {what} (default: $LORAQUEUE__REDIS__CONFIGURATION)" };

    public static Option<string?> PrefixOption() =>
        new("--redis-prefix") { Description = "Load-state key prefix (default: $LORAQUEUE__REDIS__KEYPREFIX, else lq:)" };

    /// <summary>Runs <paramref name="read"/> against the load state; <paramref name="notConfigured"/> when no Redis is
    /// configured, <paramref name="unreachable"/> (with the reason) when it cannot be reached.</summary>
    public static async Task<T> ReadAsync<T>(string? redisOption, string? prefixOption, Func<RedisLoadState, Task<T>> read,
                                             Func<T> notConfigured, Func<string, T> unreachable)
    {
        var given = new Dictionary<string, string?>();
        if (redisOption is not null) given["LoRAQueue:Redis:Configuration"] = redisOption;
        if (prefixOption is not null) given["LoRAQueue:Redis:KeyPrefix"] = prefixOption;
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddInMemoryCollection(given).Build();
        if (InfrastructureSettings.RedisConfiguration(configuration) is not { } redisConfiguration) return notConfigured();
        try
        {
            var options = ConfigurationOptions.Parse(redisConfiguration);
            options.ConnectTimeout = 3000;
            await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
            return await read(InfrastructureSettings.CreateLoadState(redis, configuration));
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return unreachable(e.Message);
        }
    }
}
