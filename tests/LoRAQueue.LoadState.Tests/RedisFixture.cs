using LoRAQueue.LoadState;

namespace LoRAQueue.LoadState.Tests;

public static class RedisFixtureExtensions
{
    /// <summary>A load state under its own sub-prefix of the fixture's, so tests in one class do not see each other's keys.</summary>
    public static RedisLoadState NewState(this RedisFixture redis, LoadStateOptions? options = null) =>
        new(redis.Redis, options, redis.NewPrefix());
}
