using System.Security.Cryptography;
using System.Text;
using Dapper;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace LoRAQueue.Webhooks.Tests;

/// <summary>Rows the gateway and the history recorder would write.</summary>
public static class Rows
{
    public static async Task InsertTenantAsync(NpgsqlDataSource db, string id, string secret, string? previous = null)
    {
        await using var connection = await db.OpenConnectionAsync();
        await connection.ExecuteAsync(
            "INSERT INTO tenants (id, name, webhook_secret, webhook_secret_previous) VALUES (@id, @id, @secret, @previous)",
            new { id, secret, previous });
    }

    public static async Task InsertBatchAsync(NpgsqlDataSource db, Guid batchId, string tenant, string? url, int accepted, int rejected)
    {
        await using var connection = await db.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            INSERT INTO batches (batch_id, tenant, webhook_url, total_lines, accepted, rejected)
            VALUES (@batchId, @tenant, @url, @total, @accepted, @rejected)
            """, new { batchId, tenant, url, total = accepted + rejected, accepted, rejected });
    }

    public static async Task InsertJobAsync(NpgsqlDataSource db, Guid jobId, string tenant, Guid? batchId, string status)
    {
        int rank = status switch { "queued" => 0, "running" => 1, _ => 2 };
        await using var connection = await db.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            INSERT INTO jobs (job_id, tenant, status, status_rank, submitted_at, batch_id)
            VALUES (@jobId, @tenant, @status, @rank, now(), @batchId)
            ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, status_rank = excluded.status_rank
            """, new { jobId, tenant, status, rank = (short)rank, batchId });
    }

    public static async Task<T> ScalarAsync<T>(NpgsqlDataSource db, string sql, object? parameters = null)
    {
        await using var connection = await db.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<T>(sql, parameters) ?? throw new InvalidOperationException($"no value: {sql}");
    }
}

/// <summary>A host wired as the gateway wires it: AddWebhookDelivery on the test database, with its hosted services running.</summary>
public sealed class WebhookHost : IAsyncDisposable
{
    private readonly IHost _host;

    private WebhookHost(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;
    public WebhookDeliveryStore Store => Services.GetRequiredService<WebhookDeliveryStore>();

    /// <summary>Fast settings for tests: 200 ms retry steps, loopback allowed, short poll.</summary>
    public static Dictionary<string, string?> TestSettings(int retries = 3, bool allowLoopback = true) => new()
    {
        ["LoRAQueue:Webhooks:RetrySchedule"] = string.Join(',', Enumerable.Repeat("200ms", retries)),
        ["LoRAQueue:Webhooks:AllowedNetworks"] = allowLoopback ? "127.0.0.0/8,::1/128" : "",
        ["LoRAQueue:Webhooks:PollInterval"] = "50ms",
        ["LoRAQueue:Webhooks:Timeout"] = "5s",
    };

    public static async Task<WebhookHost> StartAsync(NpgsqlDataSource db, Dictionary<string, string?> settings,
                                                     Action<IServiceCollection>? configure = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddSingleton(db);
        builder.Services.AddWebhookDelivery(builder.Configuration);
        configure?.Invoke(builder.Services);
        var host = builder.Build();
        await host.StartAsync();
        return new WebhookHost(host);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
