using Xunit;
using StackExchange.Redis;

namespace LoRAQueue.Testing;

/// <summary>The one Redis fixture: a connection to the real Redis that scripts/services.sh starts
/// (LORAQUEUE__REDIS__CONFIGURATION), and a random key prefix per fixture whose keys are deleted when it is disposed.
/// A test that must stop or restart Redis starts a <see cref="RedisServer"/> of its own instead.</summary>
public class RedisFixture : IAsyncLifetime
{
    public const string Variable = "LORAQUEUE__REDIS__CONFIGURATION";

    public string Prefix { get; } = $"lqtest:{Guid.NewGuid():N}:";
    public ConnectionMultiplexer Redis { get; private set; } = null!;

    /// <summary>The configuration string of the shared Redis; throws saying how to start it when it is not set.</summary>
    public static string Configuration => Environment.GetEnvironmentVariable(Variable)
        ?? throw new InvalidOperationException($"{Variable} is not set: these tests need the real Redis. Run scripts/test.sh, or " +
                                               "`bash scripts/services.sh start` and `eval \"$(bash scripts/services.sh env)\"` first.");

    /// <summary>A prefix under <see cref="Prefix"/> of its own, so that tests sharing the fixture do not see each other's keys.</summary>
    public string NewPrefix() => Prefix + Guid.NewGuid().ToString("N")[..8] + ":";

    public virtual async Task InitializeAsync() => Redis = await ConnectionMultiplexer.ConnectAsync(Configuration);

    public virtual async Task DisposeAsync()
    {
        await DeleteKeysAsync(Redis, Prefix);
        await Redis.DisposeAsync();
    }

    /// <summary>Deletes every key under <paramref name="prefix"/>.</summary>
    public static async Task DeleteKeysAsync(IConnectionMultiplexer redis, string prefix)
    {
        foreach (var endpoint in redis.GetEndPoints())
        {
            var keys = new List<RedisKey>();
            await foreach (var key in redis.GetServer(endpoint).KeysAsync(pattern: prefix + "*")) keys.Add(key);
            if (keys.Count > 0) await redis.GetDatabase().KeyDeleteAsync([.. keys]);
        }
    }
}
