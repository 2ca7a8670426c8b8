namespace LoRAQueue.Gateway.Jobs;

/// <summary>The Idempotency-Key request header and the Idempotent-Replayed answer header, for jobs and batches alike.</summary>
public static class IdempotencyKeys
{
    public const string Header = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";

    /// <summary>How long a client waits before retrying a request whose key another request is working under.</summary>
    public static readonly TimeSpan InProgressRetryAfter = TimeSpan.FromSeconds(1);

    /// <summary>The key, null when the header is absent, or throws 400 when it is not 1–255 printable ASCII characters.</summary>
    public static string? Of(HttpRequest request)
    {
        if (!request.Headers.TryGetValue(Header, out var values)) return null;
        string key = values.ToString().Trim();
        if (key.Length is 0 or > IdempotencyStore.MaxKeyLength || key.Any(c => c < 0x21 || c > 0x7e))
            throw new RequestException(Problems.InvalidRequest(
                $"{Header} must be 1 to {IdempotencyStore.MaxKeyLength} printable ASCII characters without spaces (a UUID is a good choice)"));
        return key;
    }

    public static void MarkReplayed(HttpResponse response) => response.Headers[ReplayedHeader] = "true";
}
