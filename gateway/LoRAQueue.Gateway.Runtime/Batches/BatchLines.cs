using System.Text.Json;
using LoRAQueue.Gateway.Submission;

namespace LoRAQueue.Gateway.Batches;

/// <summary>One non-blank line of a JSONL batch body; <see cref="Number"/> counts from 1 over every physical line.</summary>
public readonly record struct BatchLine(int Number, ReadOnlyMemory<byte> Json);

/// <summary>A batch line in OpenAI's batch-input shape: {"custom_id", "method": "POST", "url": "/v1/jobs", "body": {job}}.</summary>
internal sealed record BatchEnvelope(string? CustomId, string? Method, string? Url, JsonElement? Body);

/// <summary>
/// Splits a JSONL body into lines and reads each as a job. A line is either a job object with its custom_id at the top
/// level ({"custom_id": "a", "prompt": "…"}) or OpenAI's envelope ({"custom_id": "a", "body": {"prompt": "…"}}).
/// </summary>
public static class BatchLines
{
    public static List<BatchLine> Split(ReadOnlyMemory<byte> body)
    {
        var lines = new List<BatchLine>();
        int number = 0, start = 0;
        var span = body.Span;
        while (start <= span.Length)
        {
            int length = span[start..].IndexOf((byte)'\n');
            int end = length < 0 ? span.Length : start + length;
            number++;
            var line = body[start..end];
            if (line.Length > 0 && line.Span[^1] == (byte)'\r') line = line[..^1];
            if (!IsBlank(line.Span)) lines.Add(new BatchLine(number, line));
            if (length < 0) break;
            start = end + 1;
        }
        return lines;
    }

    /// <summary>The line's job with its custom_id, or throws <see cref="RequestException"/> saying what is wrong.</summary>
    public static JobRequest Parse(BatchLine line)
    {
        JobRequest request;
        using (var document = ParseDocument(line))
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new RequestException(Problems.InvalidJson("the line must be a JSON object"));
            request = document.RootElement.TryGetProperty("body", out _) ? FromEnvelope(line) : GatewayJson.Parse<JobRequest>(line.Json.Span, "the line");
        }
        if (string.IsNullOrEmpty(request.CustomId))
            throw new RequestException(Problems.InvalidRequest("custom_id is required on every batch line"));
        return request;
    }

    private static JobRequest FromEnvelope(BatchLine line)
    {
        var envelope = GatewayJson.Parse<BatchEnvelope>(line.Json.Span, "the line");
        if (envelope.Method is { } method && !method.Equals("POST", StringComparison.OrdinalIgnoreCase))
            throw new RequestException(Problems.InvalidRequest($"method must be POST (got '{method}')"));
        if (envelope.Url is { } url && url != "/v1/jobs")
            throw new RequestException(Problems.InvalidRequest($"url must be /v1/jobs (got '{url}')"));
        if (envelope.Body is not { ValueKind: JsonValueKind.Object } body)
            throw new RequestException(Problems.InvalidJson("body must be a JSON object with the job"));
        JobRequest job;
        try
        {
            job = body.Deserialize<JobRequest>(GatewayJson.Request)!;
        }
        catch (JsonException e)
        {
            throw new RequestException(Problems.InvalidJson(GatewayJson.Describe(e, "the line's body")));
        }
        if (job.CustomId is not null && envelope.CustomId is not null && job.CustomId != envelope.CustomId)
            throw new RequestException(Problems.InvalidRequest("custom_id differs between the line and its body"));
        return job with { CustomId = envelope.CustomId ?? job.CustomId };
    }

    private static JsonDocument ParseDocument(BatchLine line)
    {
        try
        {
            return JsonDocument.Parse(line.Json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new RequestException(Problems.InvalidJson(GatewayJson.Describe(e, "the line")));
        }
    }

    private static bool IsBlank(ReadOnlySpan<byte> line)
    {
        foreach (byte b in line) if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r')) return false;
        return true;
    }
}
