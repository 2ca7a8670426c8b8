using LoRAQueue.Messaging;
using Microsoft.AspNetCore.Diagnostics;
using Npgsql;

namespace LoRAQueue.Gateway.Operations;

/// <summary>
/// A request that fails because Postgres, Redis or RabbitMQ is down or restarting is answered 503 with Retry-After and a
/// problem code, not ASP.NET's bare 500: <c>queue_unavailable</c> on the submission endpoints (nothing was queued: every
/// write they make before the send needs the database), <c>service_unavailable</c> elsewhere. One warning line per request.
/// </summary>
public sealed class OutageExceptionHandler(NpgsqlDataSource database, ILogger<OutageExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        if (!OutageRetry.IsTransient(exception) || http.Response.HasStarted) return false;
        // After a database restart every idle pooled connection is dead; drop them all now rather than fail one request for each.
        if (exception is NpgsqlException) database.Clear();
        string cause = $"{exception.GetType().Name}: {exception.Message}";
        logger.LogWarning("{Method} {Path} answered 503: {Cause}", http.Request.Method, http.Request.Path, cause);
        bool submission = HttpMethods.IsPost(http.Request.Method)
                          && (http.Request.Path.StartsWithSegments("/v1/jobs") || http.Request.Path.StartsWithSegments("/v1/batches"));
        var problem = submission
            ? Problems.QueueUnavailable($"a service the gateway needs is unavailable ({cause}); nothing was queued, retry later")
            : Problems.ServiceUnavailable($"a service the gateway needs is unavailable ({cause}); retry later");
        await problem.WriteAsync(http);
        return true;
    }
}
