using LoRAQueue.Formats;
using LoRAQueue.LoadState;

namespace LoRAQueue.Cli.Tests;

/// <summary>`loraqueue adapter where`: the registered digest, and the live workers whose host cache holds those bytes.</summary>
public sealed class AdapterWhereTests
{
    [Fact]
    public async Task Where_shows_the_digest_and_the_live_holders_or_that_a_pull_would_read_the_store()
    {
        await using var database = await PostgresServer.CreateDatabaseAsync();
        using var files = new TempDirectory();
        string model = Path.Combine(files.Path, "model"), store = Path.Combine(files.Path, "store");
        SyntheticModel.Create("tiny", model, seed: 1);
        SyntheticAdapter.Create(model, 8, null, Path.Combine(store, "summarizer"), seed: 3);
        var registered = await CliRun.InvokeAsync("adapter", "register", "summarizer", "--tenant", "acme", "--store", store, "--model", model,
                                                  "--connection", database.ConnectionString);
        Assert.True(registered.ExitCode == 0, registered.ToString());
        string digest = AdapterManifest.Compute(Path.Combine(store, "summarizer")).Digest;
        var redisConfiguration = Environment.GetEnvironmentVariable("LORAQUEUE__REDIS__CONFIGURATION")
            ?? throw new InvalidOperationException("LORAQUEUE__REDIS__CONFIGURATION is not set: run the tests with scripts/test.sh");
        string prefix = $"lq-test-{Guid.NewGuid():N}:";
        string[] where = ["adapter", "where", "summarizer", "--connection", database.ConnectionString, "--redis", redisConfiguration, "--redis-prefix", prefix];

        var nobody = await CliRun.InvokeAsync(where);

        await using (var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redisConfiguration))
        {
            var state = new RedisLoadState(redis, prefix: prefix);
            await state.AdvertiseAsync(new AdapterHolder
            {
                Worker = "w1", Digest = digest, SizeBytes = 1234, UcxAddress = [1], RemoteAddress = 4096, PackedRkey = [2],
            });
        }
        var held = await CliRun.InvokeAsync(where);
        var unknown = await CliRun.InvokeAsync("adapter", "where", "ghost", "--connection", database.ConnectionString);

        Assert.True(nobody.ExitCode == 0, nobody.ToString());
        Assert.StartsWith($"summarizer: digest {digest}", nobody.Output);
        Assert.Contains("held by no live worker's host cache", nobody.Output);
        Assert.True(held.ExitCode == 0, held.ToString());
        Assert.Contains("w1: 1,234 bytes since", held.Output);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("adapter 'ghost' is not registered", unknown.Error);
    }
}
