using System.Net;
using LoRAQueue.Formats;
using LoRAQueue.LoadState;

namespace LoRAQueue.Gateway.Tests;

/// <summary>The gateway counts each admitted job's demand in Redis, and marks the job so that workers do not count it again.</summary>
public sealed class DemandTests(RedisFixture redisFixture) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task An_admitted_job_adds_its_prompt_and_max_tokens_to_the_adapters_demand_and_is_marked_recorded()
    {
        string redis = RedisFixture.Configuration;
        string prefix = redisFixture.NewPrefix(); // the fixture deletes its keys
        await using var server = await GatewayServer.StartAsync(new Dictionary<string, string?>
        {
            ["LoRAQueue:Redis:Configuration"] = redis,
            ["LoRAQueue:Redis:KeyPrefix"] = prefix,
        });
        var tenant = await server.CreateTenantAsync();
        string adapter = await tenant.Http.RegisterAdapter(server.CreateAdapter(16));
        const string prompt = "Count what this job may cost";
        var id = await tenant.Http.SubmitJob(new { adapter, prompt, max_tokens = 12 });

        var queued = await Eventually.WaitAsync(() => Task.FromResult(server.QueuedFor(tenant.Id)), q => q.Count == 1, "the job");
        Assert.Equal(id, queued[0].JobId);
        Assert.True(queued[0].DemandRecorded);

        var state = new RedisLoadState(redisFixture.Redis, prefix: prefix);
        int promptTokens = ModelTokenizer.Load(server.ModelPath).Encode(prompt).Count;
        // Windows end at the start of the current bucket: read a little later than now to include the submission.
        var demand = await Eventually.WaitAsync(
            () => state.GetDemandWindowsAsync(TimeSpan.FromSeconds(10), 2, DateTimeOffset.UtcNow.AddSeconds(10)),
            ds => ds.Any(d => d.AdapterId == adapter), "the adapter's demand in Redis");
        Assert.Equal(promptTokens + 12, demand.Single(d => d.AdapterId == adapter).WindowsTps.Sum() * 10, 6);
    }

    [Fact]
    public async Task With_redis_unreachable_a_job_is_still_accepted_and_queued()
    {
        await using var server = await GatewayServer.StartAsync(new Dictionary<string, string?>
        {
            ["LoRAQueue:Redis:Configuration"] = "127.0.0.1:1,connectTimeout=200,connectRetry=0",
        });
        var tenant = await server.CreateTenantAsync();
        var response = await tenant.Http.PostJob(new { prompt = "Redis is down", max_tokens = 4 });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await Eventually.WaitAsync(() => Task.FromResult(server.QueuedFor(tenant.Id)), q => q.Count == 1, "the job on its queue");
    }
}

/// <summary>/metrics says which workers have not applied the latest placement, from their heartbeats and the placements table.</summary>
public sealed class PlacementMetricsTests(RedisFixture redisFixture) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task Metrics_count_the_workers_behind_the_latest_placement()
    {
        string redis = RedisFixture.Configuration;
        string prefix = redisFixture.NewPrefix();
        await using var server = await GatewayServer.StartAsync(new Dictionary<string, string?>
        {
            ["LoRAQueue:Redis:Configuration"] = redis,
            ["LoRAQueue:Redis:KeyPrefix"] = prefix,
        });
        await using (var command = server.Database.DataSource.CreateCommand(
            "INSERT INTO placements (epoch, policy, reason, created_at, inputs, plan) VALUES (7, 'loraserve', 'test', now(), '{}', '{\"workers\": []}')"))
            await command.ExecuteNonQueryAsync();
        var state = new RedisLoadState(redisFixture.Redis, prefix: prefix);
        await state.WriteHeartbeatAsync(new WorkerHeartbeat { Worker = "w1", Epoch = 7 });
        await state.WriteHeartbeatAsync(new WorkerHeartbeat { Worker = "w2", Epoch = 5 });

        using var client = server.Client();
        string text = await client.GetStringAsync("/metrics");
        Assert.Contains("loraqueue_placement_epoch 7", text);
        Assert.Contains("loraqueue_worker_placement_epoch{worker=\"w2\"} 5", text);
        Assert.Contains("loraqueue_workers_behind_placement 1", text);
        Assert.Contains("loraqueue_metrics_source_up{source=\"redis\"} 1", text);
    }
}
