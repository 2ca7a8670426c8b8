using LoRAQueue.LoadState;
using StackExchange.Redis;

namespace LoRAQueue.LoadState.Tests;

/// <summary>A connection to the real Redis that scripts/services.sh starts, and a random key prefix for one test
/// class; every key under that prefix is deleted when the class is done.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public const string ConfigurationVariable = "LORAQUEUE__REDIS__CONFIGURATION";

    public string Prefix { get; } = $"lqtest:{Guid.NewGuid():N}:";
    public ConnectionMultiplexer Redis { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        string configuration = Environment.GetEnvironmentVariable(ConfigurationVariable)
            ?? throw new InvalidOperationException(
                $"{ConfigurationVariable} is not set: these tests need a real Redis. Run `bash scripts/services.sh start` and " +
                "`eval \"$(bash scripts/services.sh env)\"` first.");
        Redis = await ConnectionMultiplexer.ConnectAsync(configuration);
    }

    /// <summary>A load state under its own sub-prefix, so tests in one class do not see each other's keys.</summary>
    public RedisLoadState NewState(LoadStateOptions? options = null) =>
        new(Redis, options, Prefix + Guid.NewGuid().ToString("N")[..8] + ":");

    public async Task DisposeAsync()
    {
        foreach (var endpoint in Redis.GetEndPoints())
        {
            var server = Redis.GetServer(endpoint);
            var keys = new List<RedisKey>();
            await foreach (var key in server.KeysAsync(pattern: Prefix + "*")) keys.Add(key);
            if (keys.Count > 0) await Redis.GetDatabase().KeyDeleteAsync([.. keys]);
        }
        await Redis.DisposeAsync();
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await condition()) return true;
            if (DateTime.UtcNow >= deadline) return false;
            await Task.Delay(50);
        }
    }
}
