using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using LoRAQueue.History.Tenants;

namespace LoRAQueue.Integration.Tests;

/// <summary>
/// The whole product as a user runs it: `loraqueue serve gateway scheduler worker` in one child process against this
/// test's RabbitMQ vhost, Postgres database and a Redis of its own, a tenant with an API key, and an HTTP client that
/// speaks to the gateway with that key. Webhooks may go to loopback (allow-listed) and retry on a short schedule.
/// </summary>
public sealed class GatewayStack : IAsyncDisposable
{
    private GatewayStack(Pipeline pipeline, RedisServer redis, CreatedTenant tenant, Uri gateway, WorkerProcess serve)
    {
        Pipeline = pipeline;
        Redis = redis;
        Tenant = tenant;
        Gateway = gateway;
        Serve = serve;
        Http = new HttpClient { BaseAddress = gateway, Timeout = TimeSpan.FromSeconds(30) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tenant.ApiKey);
    }

    public Pipeline Pipeline { get; }
    public RedisServer Redis { get; }
    public CreatedTenant Tenant { get; }
    public Uri Gateway { get; }
    public WorkerProcess Serve { get; }
    public HttpClient Http { get; }

    /// <param name="retrySchedule">LoRAQueue:Webhooks:RetrySchedule for this run.</param>
    /// <param name="servers">The RabbitMQ and Postgres to run on; those of scripts/test.sh by default.</param>
    /// <param name="extra">More environment for the `loraqueue serve` process.</param>
    public static async Task<GatewayStack> StartAsync(ModelFiles files, string retrySchedule = "300ms,300ms,300ms",
                                                      TestEnvironment? servers = null, IReadOnlyDictionary<string, string>? extra = null)
    {
        var redis = await RedisServer.StartAsync();
        var pipeline = await Pipeline.CreateAsync(files, redis: redis, servers: servers);
        // The pipeline registered the adapters for this tenant id; the tenant row gives it a key and a webhook secret.
        var tenant = await new TenantStore(pipeline.DataSource).CreateAsync(Pipeline.Tenant, "Acme");
        var gateway = new Uri($"http://127.0.0.1:{LoopbackPort.Free()}/");
        var environment = new Dictionary<string, string>
        {
            ["LORAQUEUE__WEBHOOKS__ALLOWEDNETWORKS"] = "127.0.0.0/8",
            ["LORAQUEUE__WEBHOOKS__RETRYSCHEDULE"] = retrySchedule,
            ["LORAQUEUE__WEBHOOKS__POLLINTERVAL"] = "100ms",
            ["LORAQUEUE__WEBHOOKS__TIMEOUT"] = "2s",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string>()) environment[key] = value;
        var serve = await pipeline.StartServeAsync("serve-1", ["gateway", "scheduler", "worker"], ["--urls", gateway.ToString().TrimEnd('/')],
                                                   environment);
        var stack = new GatewayStack(pipeline, redis, tenant, gateway, serve);
        await Eventually.WaitAsync(stack.HealthAsync, status => status == HttpStatusCode.OK, "the gateway's /healthz to answer 200",
            TimeSpan.FromSeconds(60), pipeline.WorkerOutput);
        return stack;
    }

    private async Task<HttpStatusCode?> HealthAsync()
    {
        try
        {
            using var response = await Http.GetAsync("healthz");
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    public async Task<(HttpStatusCode Status, JsonObject Body)> PostJsonAsync(string path, object body)
    {
        using var response = await Http.PostAsJsonAsync(path, body);
        return (response.StatusCode, await ReadObjectAsync(response));
    }

    public async Task<JsonObject> GetAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await ReadObjectAsync(response);
    }

    /// <summary>Polls GET /v1/jobs/{id} until the job has finished.</summary>
    public Task<JsonObject> WaitForJobAsync(Guid id) => Eventually.WaitAsync(() => GetAsync($"v1/jobs/{id}"),
        job => (string?)job["status"] is "completed" or "failed", $"job {id} to finish", TimeSpan.FromSeconds(60), Pipeline.WorkerOutput);

    /// <summary>The webhook deliveries the gateway lists for a job (or batch).</summary>
    public async Task<JsonArray> DeliveriesAsync(string filter) => (await GetAsync($"v1/webhooks/deliveries?{filter}"))["data"]!.AsArray();

    private static async Task<JsonObject> ReadObjectAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return text.Length == 0 ? [] : JsonNode.Parse(text) as JsonObject ?? throw new InvalidOperationException($"not a JSON object: {text}");
    }


    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Pipeline.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
