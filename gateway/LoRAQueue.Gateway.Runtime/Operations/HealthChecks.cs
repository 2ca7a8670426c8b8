using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using StackExchange.Redis;

namespace LoRAQueue.Gateway.Operations;

/// <summary>Postgres is reachable when a pooled connection answers SELECT 1.</summary>
public sealed class PostgresHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(ct);
            return HealthCheckResult.Healthy("SELECT 1 answered");
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return HealthCheckResult.Unhealthy($"Postgres is not reachable: {e.Message}", e);
        }
    }
}

/// <summary>Redis is reachable when PING answers (StackExchange.Redis, from LoRAQueue:Redis:Configuration; the multiplexer
/// reconnects in the background, so a Redis outage shows here and heals by itself).</summary>
public sealed class RedisHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        // While disconnected, commands wait for the reconnect: say so at once instead of timing out.
        if (!redis.IsConnected)
            return HealthCheckResult.Unhealthy($"Redis is not reachable: no connection to {string.Join(", ", redis.GetEndPoints().Select(e => e.ToString()))}");
        try
        {
            var latency = await redis.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(3), ct);
            return HealthCheckResult.Healthy($"PING answered in {latency.TotalMilliseconds:0.###} ms");
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"Redis is not reachable: {e.Message}", e);
        }
    }
}

/// <summary>
/// The body of GET /healthz: overall status and one entry per dependency (postgres, redis when configured, and the
/// message bus: "rabbitmq", or "bus" on the in-memory transport). 200 when nothing is unhealthy, else 503.
/// </summary>
public static class HealthResponse
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        var body = new
        {
            status = Name(report.Status),
            duration_ms = Math.Round(report.TotalDuration.TotalMilliseconds, 3),
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = Name(e.Value.Status),
                description = e.Value.Description,
                duration_ms = Math.Round(e.Value.Duration.TotalMilliseconds, 3),
                error = e.Value.Exception?.Message,
            }),
        };
        return JsonSerializer.SerializeAsync(context.Response.Body, body, GatewayJson.Response, context.RequestAborted);
    }

    private static string Name(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => "healthy",
        HealthStatus.Degraded => "degraded",
        _ => "unhealthy",
    };

    /// <summary>Degraded still serves traffic (200); only unhealthy is 503.</summary>
    public static IDictionary<HealthStatus, int> StatusCodes { get; } = new Dictionary<HealthStatus, int>
    {
        [HealthStatus.Healthy] = 200,
        [HealthStatus.Degraded] = 200,
        [HealthStatus.Unhealthy] = 503,
    };
}
