using System.Net;
using System.Text.Json;
using LoRAQueue.Contracts;

namespace LoRAQueue.Gateway.Tests;

[Collection(GatewayCollection.Name)]
public sealed class OperationsTests(GatewayFixture fixture)
{
    private GatewayServer Server => fixture.Server;

    [Fact]
    public async Task Healthz_reports_each_dependency_and_200_when_all_are_reachable()
    {
        using var client = Server.Client();
        var response = await Eventually.WaitAsync(() => client.GetAsync("/healthz"), r => r.StatusCode == HttpStatusCode.OK, "a healthy gateway");
        var body = await response.JsonOf();
        Assert.Equal("healthy", body.GetProperty("status").GetString());
        var checks = body.GetProperty("checks");
        Assert.Equal(["bus", "postgres", "redis"], checks.EnumerateObject().Select(c => c.Name).Order());
        Assert.All(checks.EnumerateObject(), c => Assert.Equal("healthy", c.Value.GetProperty("status").GetString()));
        Assert.Contains("PING answered", checks.GetProperty("redis").GetProperty("description").GetString());
    }

    [Fact]
    public async Task Healthz_is_503_naming_the_unreachable_dependency()
    {
        await using var server = await GatewayServer.StartAsync(new Dictionary<string, string?>
        {
            ["LoRAQueue:Redis:Configuration"] = "127.0.0.1:1,connectTimeout=200,connectRetry=0",
        });
        using var client = server.Client();
        var response = await client.GetAsync("/healthz");
        var body = await response.JsonOf();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("unhealthy", body.GetProperty("status").GetString());
        var redis = body.GetProperty("checks").GetProperty("redis");
        Assert.Equal("unhealthy", redis.GetProperty("status").GetString());
        Assert.StartsWith("Redis is not reachable:", redis.GetProperty("description").GetString());
        Assert.Equal("healthy", body.GetProperty("checks").GetProperty("postgres").GetProperty("status").GetString());
    }

    [Fact]
    public async Task Metrics_show_job_counts_from_postgres_and_latency_histograms_from_job_events()
    {
        var tenant = await Server.CreateTenantAsync();
        await tenant.Http.SubmitJob(new { prompt = "count me", max_tokens = 1 });
        await tenant.Http.PostAsync("/v1/jobs", Http.Json("{"));
        await Server.Bus.Publish(new JobCompleted
        {
            JobId = Guid.NewGuid(), Tenant = tenant.Id, RankBucket = 64, OutputText = "x", FinishReason = "eos",
            Timings = new JobTimings(QueueMs: 2500, WaitMs: 10, TtftMs: 40, TpotMs: 5, TotalMs: 3000),
            SubmittedAt = DateTimeOffset.UtcNow, CompletedAt = DateTimeOffset.UtcNow,
        });

        using var client = Server.Client();
        string text = await Eventually.WaitAsync(() => client.GetStringAsync("/metrics"),
            t => t.Contains("loraqueue_job_total_seconds_count{rank_bucket=\"64\"} 1"), "the completed job in the histograms");
        Assert.Matches("loraqueue_jobs\\{status=\"queued\",rank_bucket=\"base\"\\} [1-9]", text);
        Assert.Contains("# TYPE loraqueue_queue_depth gauge", text);
        Assert.Contains("loraqueue_job_queue_seconds_bucket{rank_bucket=\"64\",le=\"2.56\"} 1", text);
        Assert.Contains("loraqueue_job_queue_seconds_bucket{rank_bucket=\"64\",le=\"1.28\"} 0", text);
        Assert.Contains("loraqueue_job_ttft_seconds_sum{rank_bucket=\"64\"} 0.04", text);
        Assert.Contains("loraqueue_jobs_finished_total{outcome=\"completed\",rank_bucket=\"64\"} 1", text);
        Assert.Contains("loraqueue_metrics_source_up{source=\"postgres\"} 1", text);
        Assert.Matches("loraqueue_gateway_rejections_total\\{code=\"invalid_json\"\\} [1-9]", text);
    }

    [Fact]
    public async Task The_openapi_document_describes_every_endpoint()
    {
        using var client = Server.Client();
        var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json")).RootElement;
        Assert.Equal("LoRAQueue gateway", document.GetProperty("info").GetProperty("title").GetString());
        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToHashSet();
        Assert.Superset(new HashSet<string>
        {
            "/v1/jobs", "/v1/jobs/{id}", "/v1/batches", "/v1/batches/{id}", "/v1/batches/{id}/results", "/v1/adapters",
            "/v1/adapters/{id}", "/v1/webhooks/deliveries", "/v1/webhooks/deliveries/{id}", "/v1/webhooks/deliveries/{id}/replay",
        }, paths);
        var submit = document.GetProperty("paths").GetProperty("/v1/jobs").GetProperty("post");
        Assert.True(submit.GetProperty("requestBody").GetProperty("content").TryGetProperty("application/json", out _));
        var register = document.GetProperty("paths").GetProperty("/v1/adapters").GetProperty("post");
        var content = register.GetProperty("requestBody").GetProperty("content");
        Assert.True(content.TryGetProperty("application/json", out _));
        var form = content.GetProperty("multipart/form-data").GetProperty("schema").GetProperty("properties");
        Assert.Equal("binary", form.GetProperty("files").GetProperty("items").GetProperty("format").GetString());
        Assert.True(form.TryGetProperty("id", out _));
        Assert.True(register.GetProperty("responses").TryGetProperty("413", out _));
        Assert.True(document.GetProperty("components").GetProperty("securitySchemes").TryGetProperty("bearer", out _));
    }
}
