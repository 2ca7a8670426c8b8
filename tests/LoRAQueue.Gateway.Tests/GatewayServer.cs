using System.Collections.Concurrent;
using System.Net.Http.Headers;
using LoRAQueue.Contracts;
using LoRAQueue.Formats;
using LoRAQueue.History;
using LoRAQueue.History.Tenants;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Gateway.Tests;

/// <summary>
/// A real gateway on http://127.0.0.1:{free port} over a fresh migrated database, a tiny synthetic model and an adapter
/// store, with MassTransit's in-memory transport. Every SubmitJob that reaches a rank queue is captured, so a test can
/// say exactly what was (or was not) queued. Tests isolate themselves by tenant: each makes its own.
/// </summary>
public sealed class GatewayServer : IAsyncDisposable
{
    public static readonly string[] RankQueues = ["lora-base", "lora-rank-8", "lora-rank-16", "lora-rank-32", "lora-rank-64", "lora-rank-128"];

    private readonly ConcurrentQueue<SubmitJob> _queued = new();
    private int _adapterCount;

    private GatewayServer(TestDatabase database, string root, WebApplication app, Uri address)
    {
        Database = database;
        Root = root;
        App = app;
        Address = address;
    }

    public TestDatabase Database { get; }
    public string Root { get; }
    public string ModelPath => Path.Combine(Root, "model");
    public string AdapterStorePath => Path.Combine(Root, "adapters");
    public WebApplication App { get; }
    public Uri Address { get; }
    public TenantStore Tenants => App.Services.GetRequiredService<TenantStore>();
    public IJobHistory History => App.Services.GetRequiredService<IJobHistory>();
    public IBus Bus => App.Services.GetRequiredService<IBus>();

    /// <summary>Every SubmitJob that arrived on a rank queue.</summary>
    public IReadOnlyList<SubmitJob> Queued => _queued.ToArray();

    public IReadOnlyList<SubmitJob> QueuedFor(string tenant) => _queued.Where(j => j.Tenant == tenant).ToList();

    /// <summary>Starts a gateway; <paramref name="settings"/> override configuration keys (e.g. an unreachable Redis);
    /// <paramref name="services"/> registers services before the gateway's own (which are added only when missing).</summary>
    public static async Task<GatewayServer> StartAsync(IReadOnlyDictionary<string, string?>? settings = null,
                                                       Action<IServiceCollection>? services = null)
    {
        var database = await PostgresServer.CreateDatabaseAsync();
        string root = Directory.CreateTempSubdirectory("loraqueue-gateway-").FullName;
        SyntheticModel.Create("tiny", Path.Combine(root, "model"), seed: 7);
        Directory.CreateDirectory(Path.Combine(root, "adapters"));

        var configuration = new Dictionary<string, string?>
        {
            ["LoRAQueue:Postgres:ConnectionString"] = database.ConnectionString,
            ["LoRAQueue:Transport"] = "inmemory",
            ["LoRAQueue:Model:Path"] = Path.Combine(root, "model"),
            ["LoRAQueue:AdapterStore:Path"] = Path.Combine(root, "adapters"),
            ["LoRAQueue:Gateway:MaxTokens"] = "4096",
            // Webhook receivers in these tests listen on loopback; every other private range stays refused.
            ["LoRAQueue:Webhooks:AllowedNetworks"] = "127.0.0.0/8",
            ["LoRAQueue:Webhooks:RetrySchedule"] = "1h",
        };
        if (settings is not null) foreach (var (key, value) in settings) configuration[key] = value;

        var app = GatewayApplication.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(configuration);
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            services?.Invoke(builder.Services);
        });
        await app.StartAsync();
        var server = new GatewayServer(database, root, app, new Uri(app.Urls.First()));
        foreach (var queue in RankQueues)
        {
            var handle = server.Bus.ConnectReceiveEndpoint(queue, e => e.Handler<SubmitJob>(context =>
            {
                server._queued.Enqueue(context.Message);
                return Task.CompletedTask;
            }));
            await handle.Ready;
        }
        return server;
    }

    /// <summary>A new tenant (random id) and a client that authenticates as it.</summary>
    public async Task<TenantClient> CreateTenantAsync(TenantLimits? limits = null)
    {
        var created = await Tenants.CreateAsync("t-" + Guid.NewGuid().ToString("N")[..12], "test tenant", limits);
        return new TenantClient(created.Tenant, created.ApiKey, Client(created.ApiKey));
    }

    /// <summary>A client with the given key (null: no Authorization header).</summary>
    public HttpClient Client(string? apiKey = null)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(60) };
        if (apiKey is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    /// <summary>A new PEFT adapter directory in the store (unique id), not yet registered.</summary>
    public string CreateAdapter(int rank)
    {
        string id = $"a{Interlocked.Increment(ref _adapterCount)}-r{rank}-{Guid.NewGuid().ToString("N")[..6]}";
        SyntheticAdapter.Create(ModelPath, rank, null, Path.Combine(AdapterStorePath, id), seed: (ulong)rank);
        return id;
    }

    /// <summary>Submits a valid marker job and waits for it on its queue; the marker must then be the tenant's only job,
    /// on the queue and in the history. (Queues deliver in order, so a refused job queued earlier would be there too.)</summary>
    public async Task AssertNothingQueuedAsync(TenantClient tenant)
    {
        var marker = tenant.Http.SubmitJob(new { prompt = "marker", max_tokens = 1 });
        Guid markerId = await marker;
        await Eventually.WaitAsync(() => Task.FromResult(QueuedFor(tenant.Id)), q => q.Any(j => j.JobId == markerId), "the marker job");
        Assert.Equal([markerId], QueuedFor(tenant.Id).Select(j => j.JobId));
        var history = await History.ListAsync(new JobQuery(Tenant: tenant.Id), CancellationToken.None);
        Assert.Equal([markerId], history.Items.Select(j => j.JobId));
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        await Database.DisposeAsync();
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
    }
}

public sealed record TenantClient(Tenant Tenant, string ApiKey, HttpClient Http)
{
    public string Id => Tenant.Id;
}
