using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using LoRAQueue.History.Tenants;
using Xunit.Abstractions;

namespace LoRAQueue.Integration.Tests;

/// <summary>
/// One job's trace, end to end, as a collector receives it: the gateway and the worker are separate processes exporting
/// over OTLP/HTTP to a receiver in this test, RabbitMQ carries the context between them, and every span must hang
/// together in the one trace whose id GET /v1/jobs/{id} returns.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class TracingTests(ModelFiles files, ITestOutputHelper output)
{
    [Fact]
    public async Task One_jobs_spans_go_from_the_gateway_request_through_rabbitmq_the_worker_and_the_history_to_its_webhook()
    {
        await using var otlp = await OtlpReceiver.StartAsync();
        await using var receiver = await WebhookReceiver.StartNewAsync();
        await using var pipeline = await Pipeline.CreateAsync(files);
        var tenant = await new TenantStore(pipeline.DataSource).CreateAsync(Pipeline.Tenant, "Acme");
        var tracing = new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
        };
        await pipeline.StartWorkerAsync("w1", "8", tracing); // the worker also runs the history recorder
        var gatewayUrl = $"http://127.0.0.1:{LoopbackPort.Free()}";
        var environment = pipeline.HostEnvironment();
        foreach (var (k, v) in tracing) environment[k] = v;
        environment["LORAQUEUE__WEBHOOKS__ALLOWEDNETWORKS"] = "127.0.0.0/8";
        environment["LORAQUEUE__WEBHOOKS__POLLINTERVAL"] = "100ms";
        await using var gateway = await WorkerProcess.StartAsync(pipeline.Env.CliDll, "gateway", environment,
            readyMarker: "Database migrations:", arguments: ["serve", "gateway", "--urls", gatewayUrl]);
        string Diagnostics() => pipeline.WorkerOutput() + Environment.NewLine + gateway.Output;

        using var http = new HttpClient { BaseAddress = new Uri(gatewayUrl + "/"), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tenant.ApiKey);
        await Eventually.WaitAsync(async () => await Status(http, "healthz"), s => s == HttpStatusCode.OK, "the gateway's /healthz",
            TimeSpan.FromSeconds(60), Diagnostics);

        using var submitted = await http.PostAsJsonAsync("v1/jobs", new { adapter = "r8", prompt = "Trace me", max_tokens = 6, webhook_url = receiver.Url });
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var id = (string)(await submitted.Content.ReadFromJsonAsync<JsonObject>())!["id"]!;
        var job = await Eventually.WaitAsync(() => http.GetFromJsonAsync<JsonObject>($"v1/jobs/{id}")!,
            j => (string?)j!["status"] == "completed", $"job {id} to complete", TimeSpan.FromSeconds(60), Diagnostics);
        string traceId = (string?)job!["trace_id"] ?? throw new Xunit.Sdk.XunitException($"no trace_id in {job}");
        Assert.Matches("^[0-9a-f]{32}$", traceId);
        Assert.Equal(traceId, (await pipeline.History.GetAsync(Guid.Parse(id), CancellationToken.None))!.TraceId);

        // The webhook attempt is the last span; once its HTTP client span is in, everything before it has been exported.
        var spans = await Eventually.WaitAsync(() => Task.FromResult(otlp.Spans.Where(s => s.TraceId == traceId).ToList()),
            ss => ss.Any(s => s.Kind == SpanKind.Client && ss.Any(a => a.Name == "webhook.attempt" && a.SpanId == s.ParentSpanId))
                  && ss.Any(s => Consumes(s, "JobHistoryRecorder")),
            "the job's spans through its webhook attempt", TimeSpan.FromSeconds(30), Diagnostics);
        foreach (var span in spans.OrderBy(s => s.Start)) output.WriteLine(span.ToString());

        // One tree: a single root, the gateway's request, and every other span's parent is in the trace.
        var byId = spans.ToDictionary(s => s.SpanId);
        var root = Assert.Single(spans, s => s.ParentSpanId is null);
        Assert.Equal(("loraqueue-gateway", SpanKind.Server), (root.Service, root.Kind));
        Assert.Contains("/v1/jobs", root.Name);
        Assert.All(spans.Where(s => s != root), s => Assert.True(byId.ContainsKey(s.ParentSpanId!), $"{s}: parent not in the trace"));
        bool Under(ReceivedSpan s, ReceivedSpan ancestor)
        {
            for (var at = s; at.ParentSpanId is { } p && byId.TryGetValue(p, out var parent); at = parent)
                if (parent == ancestor) return true;
            return false;
        }

        // Gateway: the send to the rank queue, inside the request.
        var send = Assert.Single(spans, s => s.Kind == SpanKind.Producer && s.Service == "loraqueue-gateway");
        Assert.True(Under(send, root));
        // Worker (another process): the consume of that message, tagged with the job, and the engine phases under it.
        var consume = Assert.Single(spans, s => s.Service == "loraqueue-worker" && s.Attributes.GetValueOrDefault("loraqueue.job_id") == id);
        Assert.True(Under(consume, send), $"{consume} is not under {send}");
        var phases = new[] { "engine.queue", "engine.prefill", "engine.decode" }
            .Select(name => Assert.Single(spans, s => s.Name == name)).ToList();
        Assert.All(phases, p => Assert.Equal(consume.SpanId, p.ParentSpanId));
        Assert.True(phases[0].End <= phases[1].Start.AddMilliseconds(1) && phases[1].End <= phases[2].Start.AddMilliseconds(1),
            "queue, prefill and decode follow each other");
        Assert.Equal("6", phases[2].Attributes["loraqueue.output_tokens"]);
        // History recorder (worker process) and webhook enqueuer (gateway) consume the worker's events in the same trace.
        Assert.Contains(spans, s => s.Service == "loraqueue-worker" && Consumes(s, "JobHistoryRecorder") && Under(s, consume));
        var enqueue = Assert.Single(spans, s => s.Service == "loraqueue-gateway" && Consumes(s, "WebhookEnqueuer"));
        Assert.True(Under(enqueue, consume));
        // The delivery attempt, later and in the dispatcher, hangs under the consume that enqueued it; the POST under it.
        var attempt = Assert.Single(spans, s => s.Name == "webhook.attempt");
        Assert.Equal("loraqueue-gateway", attempt.Service);
        Assert.True(Under(attempt, enqueue));
        Assert.Equal("delivered", attempt.Attributes["loraqueue.delivery_status"]);
        var post = Assert.Single(spans, s => s.Kind == SpanKind.Client && s.ParentSpanId == attempt.SpanId);
        Assert.Equal("200", post.Attributes["http.response.status_code"]);
        // The receiver sees the POST's own span as its parent.
        Assert.StartsWith($"00-{traceId}-{post.SpanId}-", Assert.Single(receiver.Requests).TraceParent);
    }

    private static bool Consumes(ReceivedSpan span, string consumer) =>
        span.Kind == SpanKind.Consumer && span.Attributes.Values.Any(v => v.Contains(consumer, StringComparison.Ordinal));

    private static async Task<HttpStatusCode?> Status(HttpClient http, string path)
    {
        try
        {
            using var response = await http.GetAsync(path);
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }
}

/// <summary>Jobs published straight to RabbitMQ: no gateway span, so the trace is the one the producer sent (MassTransit's
/// MT-Activity-Id header, a W3C traceparent value), or starts at the worker.</summary>
[Collection(PipelineCollection.Name)]
public sealed class RawProducerTracingTests(ModelFiles files)
{
    [Fact]
    public async Task A_raw_job_joins_the_trace_its_producer_sent_and_one_without_starts_its_own_at_the_worker()
    {
        await using var pipeline = await Pipeline.CreateAsync(files);
        // Recording without an exporter: trace ids in the history, nothing sent anywhere.
        await pipeline.StartWorkerAsync("w1", "8", new Dictionary<string, string> { ["LORAQUEUE__TRACING__ENABLED"] = "true" });
        const string producerTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
        Guid joined = Guid.NewGuid(), own = Guid.NewGuid();
        foreach (var id in new[] { joined, own })
            await pipeline.PublishRawAsync("lora-rank-8", $$"""{"jobId":"{{id}}","tenant":"acme","adapterId":"r8","prompt":"raw and traced","maxTokens":3}""",
                headers: id == joined ? new Dictionary<string, object?> { ["MT-Activity-Id"] = $"00-{producerTrace}-00f067aa0ba902b7-01" } : null);

        var jobs = (await pipeline.WaitForJobsAsync([joined, own], History.JobStatus.Completed)).ToDictionary(j => j.JobId);
        Assert.Equal(producerTrace, jobs[joined].TraceId);
        Assert.Matches("^[0-9a-f]{32}$", jobs[own].TraceId);
        Assert.NotEqual(producerTrace, jobs[own].TraceId);
    }
}
