using System.Net;
using System.Text.Json;
using LoRAQueue.Contracts;
using MassTransit;

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
    public async Task Metrics_show_adapter_loads_from_job_events_and_pulls_from_adapter_events()
    {
        // The only test that publishes these (but for the store_missing failure below): the counts are exact.
        var tenant = await Server.CreateTenantAsync();
        JobCompleted Completed(int? rankBucket, AdapterLoad? load) => new()
        {
            JobId = Guid.NewGuid(), Tenant = tenant.Id, AdapterId = load is null ? null : "support-r32", RankBucket = rankBucket,
            OutputText = "x", FinishReason = "eos", Timings = new JobTimings(QueueMs: 5, WaitMs: 1, TtftMs: 4, TpotMs: 2, TotalMs: 20),
            AdapterLoad = load, SubmittedAt = DateTimeOffset.UtcNow, CompletedAt = DateTimeOffset.UtcNow,
        };
        await Server.Bus.Publish(Completed(32, new AdapterLoad("peer", 150)));
        await Server.Bus.Publish(Completed(32, new AdapterLoad("peer", 50)));
        await Server.Bus.Publish(Completed(null, null)); // a base-model job: no adapter load
        await Server.Bus.Publish(new AdapterPulled
        {
            Worker = "worker-a", AdapterId = "support-r32", Digest = new string('a', 64), Source = "peer", From = "worker-d",
            Bytes = 1_048_576, Ms = 80, Transport = "tcp", At = DateTimeOffset.UtcNow,
            Skipped = [new AdapterPullSkip("worker-b", "timeout", "no answer within 5 s"), new AdapterPullSkip("worker-c", "digest_mismatch", "x does not match")],
        });
        await Server.Bus.Publish(new AdapterPullFailed
        {
            Worker = "worker-a", AdapterId = "support-r8", Digest = new string('b', 64), Reason = "store_mismatch",
            Message = "adapter_model.safetensors is 1,234 bytes, registered with 1,298", At = DateTimeOffset.UtcNow,
            Skipped = [new AdapterPullSkip("worker-e", "unreachable", "connection refused")],
        });

        using var client = Server.Client();
        string text = await Eventually.WaitAsync(() => client.GetStringAsync("/metrics"),
            t => t.Contains("loraqueue_adapter_pull_failures_total{reason=\"store_mismatch\"} 1")
                 && t.Contains("loraqueue_adapter_pulls_total{source=\"peer\"} 1")
                 && t.Contains("loraqueue_job_adapter_load_seconds_count{source=\"peer\"} 2"), "the adapter events in the metrics");
        Assert.Contains("loraqueue_job_adapter_load_seconds_sum{source=\"peer\"} 0.2", text);
        Assert.Contains("loraqueue_job_adapter_load_seconds_bucket{source=\"peer\",le=\"0.064\"} 1", text);
        Assert.Contains("loraqueue_job_adapter_load_seconds_bucket{source=\"peer\",le=\"0.256\"} 2", text);
        Assert.Contains("loraqueue_adapter_pull_bytes_total{source=\"peer\"} 1048576", text);
        Assert.Contains("loraqueue_adapter_pull_seconds_sum{source=\"peer\"} 0.08", text);
        Assert.Contains("loraqueue_adapter_pull_seconds_bucket{source=\"peer\",le=\"0.064\"} 0", text);
        Assert.Contains("loraqueue_adapter_pull_seconds_bucket{source=\"peer\",le=\"0.128\"} 1", text);
        Assert.Contains("loraqueue_adapter_pull_skips_total{reason=\"timeout\"} 1", text);
        Assert.Contains("loraqueue_adapter_pull_skips_total{reason=\"digest_mismatch\"} 1", text);
        Assert.Contains("loraqueue_adapter_pull_skips_total{reason=\"unreachable\"} 1", text); // from the failed pull
        // The known sources and reasons are there before anything happened to them, at 0.
        foreach (var source in AdapterLoad.Sources.Except(["peer"]))
            Assert.Contains($"loraqueue_job_adapter_load_seconds_count{{source=\"{source}\"}} 0", text);
        Assert.Contains("loraqueue_adapter_pulls_total{source=\"store\"} 0", text);
        Assert.Contains("loraqueue_adapter_pull_bytes_total{source=\"store\"} 0", text);
        Assert.Contains("loraqueue_adapter_pull_seconds_count{source=\"store\"} 0", text);
        Assert.Contains("loraqueue_adapter_pull_skips_total{reason=\"error\"} 0", text);
        Assert.Contains("loraqueue_adapter_pull_failures_total{reason=\"abandoned\"} 0", text);
        Assert.Contains("loraqueue_adapter_pull_failures_total{reason=\"store_error\"} 0", text);
    }

    [Fact]
    public async Task Adapter_events_a_worker_publishes_while_it_consumes_a_raw_job_keep_the_envelope_and_reach_the_metrics()
    {
        // A worker consumes SubmitJob as plain JSON; the events it publishes meanwhile go out in MassTransit's envelope,
        // as every event does (docs/messages.md), not in the serializer of the job being consumed.
        const string publisher = "test-adapter-event-publisher", reader = "test-adapter-event-reader";
        var read = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handles = new[]
        {
            Server.Bus.ConnectReceiveEndpoint(publisher, e => e.Handler<SubmitJob>(context => context.Publish(new AdapterPullFailed
            {
                Worker = "worker-raw", AdapterId = context.Message.AdapterId ?? "", Digest = new string('c', 64), Reason = "store_missing",
                Message = "no such directory", At = DateTimeOffset.UtcNow,
            }))),
            Server.Bus.ConnectReceiveEndpoint(reader, e => e.Handler<AdapterPullFailed>(context =>
            {
                read.TrySetResult(context.ReceiveContext.ContentType?.MediaType);
                return Task.CompletedTask;
            })),
        };
        foreach (var handle in handles) await handle.Ready;
        try
        {
            var endpoint = await Server.Bus.GetSendEndpoint(new Uri($"queue:{publisher}"));
            await endpoint.Send(new SubmitJob { JobId = Guid.NewGuid(), Tenant = "t", AdapterId = "gone", Prompt = "p", SubmittedAt = DateTimeOffset.UtcNow });

            Assert.Equal("application/vnd.masstransit+json", await read.Task.WaitAsync(TimeSpan.FromSeconds(30)));
            using var client = Server.Client();
            await Eventually.WaitAsync(() => client.GetStringAsync("/metrics"),
                t => t.Contains("loraqueue_adapter_pull_failures_total{reason=\"store_missing\"} 1"), "the failed pull in the metrics");
        }
        finally
        {
            foreach (var handle in handles) await handle.StopAsync();
        }
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
        var job = document.GetProperty("components").GetProperty("schemas").GetProperty("JobView").GetProperty("properties");
        Assert.True(job.TryGetProperty("timings", out _));
        Assert.True(job.TryGetProperty("adapter_load", out _));
    }
}
