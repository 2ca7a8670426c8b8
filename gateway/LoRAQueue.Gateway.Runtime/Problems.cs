using LoRAQueue.Contracts;
using LoRAQueue.Contracts.Admission;

namespace LoRAQueue.Gateway;

/// <summary>
/// An RFC 7807 problem: HTTP status, a stable machine-readable <see cref="Code"/> and a message for a person.
/// <see cref="Extensions"/> carry extra members (per-line batch errors, the idempotent job id, …); <see cref="RetryAfter"/>
/// becomes the Retry-After header.
/// </summary>
public sealed record Problem(int Status, string Code, string Title, string Detail, IReadOnlyDictionary<string, object?>? Extensions = null,
                             TimeSpan? RetryAfter = null)
{
    public IResult ToResult()
    {
        var extensions = new Dictionary<string, object?> { ["code"] = Code };
        if (Extensions is not null) foreach (var (key, value) in Extensions) extensions[key] = value;
        var problem = Results.Problem(detail: Detail, statusCode: Status, title: Title, type: $"https://loraqueue.dev/problems/{Code}",
                                      extensions: extensions);
        return RetryAfter is { } wait ? new WithRetryAfter(problem, wait) : problem;
    }

    private sealed class WithRetryAfter(IResult inner, TimeSpan wait) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return inner.ExecuteAsync(httpContext);
        }
    }

    public Task WriteAsync(HttpContext context) => ToResult().ExecuteAsync(context);
}

/// <summary>A request the gateway refuses; the endpoint turns it into its problem response.</summary>
public sealed class RequestException(Problem problem) : Exception(problem.Detail)
{
    public Problem Problem { get; } = problem;
}

/// <summary>Every problem the API answers with, in one place so codes and titles stay consistent (docs/gateway.md lists them).</summary>
public static class Problems
{
    public static Problem InvalidJson(string detail) => new(400, "invalid_json", "The request body is not valid", detail);
    public static Problem InvalidRequest(string detail) => new(400, "invalid_request", "The request is not valid", detail);
    public static Problem InvalidQuery(string detail) => new(400, "invalid_query", "A query parameter is not valid", detail);
    public static Problem Unauthorized(string detail) => new(401, "unauthorized", "Authentication required", detail);
    public static Problem NotFound(string what) => new(404, "not_found", "Not found", $"{what} was not found");
    public static Problem Conflict(string detail) => new(409, "conflict", "Conflict", detail);
    public static Problem BodyTooLarge(long limit) =>
        new(413, "body_too_large", "The request body is too large", $"the request body exceeds this tenant's limit of {limit} bytes");
    public static Problem UploadTooLarge(long limit) =>
        new(413, "body_too_large", "The request body is too large",
            $"the adapter upload exceeds the gateway's limit of {limit} bytes (LoRAQueue:Gateway:MaxAdapterUploadMb)");
    public static Problem UnsupportedMediaType(string detail, IReadOnlyList<string> accepted) =>
        new(415, "unsupported_media_type", "The request body's media type is not read here", detail,
            new Dictionary<string, object?> { ["accepted"] = accepted });
    public static Problem TooManyLines(int lines, int limit) =>
        new(413, "too_many_lines", "The batch has too many lines", $"the batch has {lines} job lines; this tenant's limit is {limit}");
    public static Problem WebhookRefused(string field, string reason) =>
        new(422, FailureReasons.WebhookUrlRefused, "The webhook URL is not allowed", $"{field} is refused: {reason}");
    public static Problem AdapterRejected(string detail) => new(422, "adapter_invalid", "The adapter cannot be registered", detail);
    public static Problem IdempotencyKeyReused(string key, string difference = "a different request body") =>
        new(422, "idempotency_key_reused", "Idempotency-Key already used for another request",
            $"Idempotency-Key '{key}' was already used with {difference}; use a new key for a new request");
    /// <summary>Another request with the same key holds its lock: it is still sending. Its answer will be replayed.</summary>
    public static Problem IdempotencyKeyInProgress(string key, TimeSpan retryAfter) =>
        new(409, "idempotency_key_in_progress", "A request with this Idempotency-Key is in progress",
            $"another request with Idempotency-Key '{key}' is still being processed; retry after {Math.Ceiling(retryAfter.TotalSeconds)} s " +
            "to get its answer", RetryAfter: retryAfter);
    public static Problem NoValidLines(IReadOnlyList<object> errors) =>
        new(422, "no_valid_lines", "No line of the batch is valid", $"all {errors.Count} job lines were rejected; nothing was queued",
            new Dictionary<string, object?> { ["errors"] = errors });
    public static Problem RateLimited(int perMinute, TimeSpan retryAfter) =>
        new(429, "rate_limited", "Too many requests",
            $"this tenant's limit of {perMinute} requests per minute is used up; retry after {Math.Ceiling(retryAfter.TotalSeconds)} s",
            RetryAfter: retryAfter);
    /// <summary>A job that breaks one of the SubmitJob rules: the rule's code (the same a worker's JobFailed carries), the
    /// field named as the HTTP API spells it; 400 for a malformed field, 422 for a job that is well-formed but cannot run.</summary>
    public static Problem Rejected(JobRejection r) => r.Code switch
    {
        FailureReasons.InvalidMaxTokens => new(400, r.Code, "max_tokens is out of range", r.Message(JobFieldNames.Http)),
        FailureReasons.UnknownAdapter => new(422, r.Code, "Unknown adapter",
            $"{r.Message(JobFieldNames.Http)} (register it with POST /v1/adapters)"),
        FailureReasons.PromptTooLong => new(422, r.Code, "The prompt does not fit the model's context", r.Message(JobFieldNames.Http)),
        FailureReasons.WebhookUrlRefused => new(422, r.Code, "The webhook URL is not allowed", r.Message(JobFieldNames.Http)),
        _ => new(400, r.Code, "The request is not valid", r.Message(JobFieldNames.Http)),
    };

    /// <summary>How long a client waits before retrying after a 503: about how long a broker or database restart takes.</summary>
    public static readonly TimeSpan OutageRetryAfter = TimeSpan.FromSeconds(5);

    public static Problem QueueUnavailable(string detail) =>
        new(503, "queue_unavailable", "The job could not be queued", detail, RetryAfter: OutageRetryAfter);

    public static Problem ServiceUnavailable(string detail) =>
        new(503, "service_unavailable", "A service the gateway needs is unavailable", detail, RetryAfter: OutageRetryAfter);
}
