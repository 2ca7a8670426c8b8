using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoRAQueue.Cli.Commands;

/// <summary>
/// The few gateway calls the CLI makes, over plain HttpClient and JSON nodes (the CLI shows what the gateway says; it
/// does not re-model it). A refusal (RFC 7807 problem) becomes a <see cref="CliException"/> carrying its detail.
/// </summary>
internal sealed class GatewayClient(Uri gateway, string apiKey) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = gateway, Timeout = TimeSpan.FromSeconds(100) };

    public async Task<JsonObject> SubmitJobAsync(JsonObject job, string? idempotencyKey, CancellationToken ct)
    {
        using var request = Request(HttpMethod.Post, "v1/jobs");
        request.Content = new StringContent(job.ToJsonString(), Encoding.UTF8, "application/json");
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        return await SendAsync(request, ct);
    }

    public async Task<JsonObject> SubmitBatchAsync(Stream jsonl, string? webhookUrl, CancellationToken ct)
    {
        var path = webhookUrl is null ? "v1/batches" : $"v1/batches?webhook_url={Uri.EscapeDataString(webhookUrl)}";
        using var request = Request(HttpMethod.Post, path);
        request.Content = new StreamContent(jsonl);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/jsonl");
        return await SendAsync(request, ct, acceptProblemWithErrors: true);
    }

    public async Task<JsonObject> GetJobAsync(Guid id, CancellationToken ct)
    {
        using var request = Request(HttpMethod.Get, $"v1/jobs/{id}");
        return await SendAsync(request, ct);
    }

    public async Task<JsonObject> GetBatchAsync(Guid id, CancellationToken ct)
    {
        using var request = Request(HttpMethod.Get, $"v1/batches/{id}");
        return await SendAsync(request, ct);
    }

    public async Task<string> GetBatchResultsAsync(Guid id, CancellationToken ct)
    {
        using var request = Request(HttpMethod.Get, $"v1/batches/{id}/results");
        using var response = await SendRawAsync(request, ct);
        return await response.Content.ReadAsStringAsync(ct);
    }

    private HttpRequestMessage Request(HttpMethod method, string path)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return request;
    }

    private async Task<JsonObject> SendAsync(HttpRequestMessage request, CancellationToken ct, bool acceptProblemWithErrors = false)
    {
        using var response = await SendRawAsync(request, ct, acceptProblemWithErrors);
        var body = await response.Content.ReadAsStringAsync(ct);
        return JsonNode.Parse(body) as JsonObject ?? throw new CliException($"the gateway answered {(int)response.StatusCode} with no JSON object");
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, CancellationToken ct, bool acceptProblemWithErrors = false)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new CliException($"cannot reach the gateway at {_http.BaseAddress}: {e.Message}");
        }
        if (response.IsSuccessStatusCode) return response;
        var body = await response.Content.ReadAsStringAsync(ct);
        // A batch whose every line was refused is a 422 that still lists the lines: the caller prints them.
        if (acceptProblemWithErrors && JsonNode.Parse(body) is JsonObject problem && problem["errors"] is JsonArray) return response;
        response.Dispose();
        throw new CliException(Describe((int)response.StatusCode, body));
    }

    private static string Describe(int status, string body)
    {
        try
        {
            if (JsonNode.Parse(body) is JsonObject problem)
                return $"{status} {problem["code"] ?? problem["title"]}: {problem["detail"] ?? problem["title"]}";
        }
        catch (JsonException) { }
        return $"the gateway answered {status}: {(body.Length > 200 ? body[..200] : body)}";
    }

    public void Dispose() => _http.Dispose();
}
