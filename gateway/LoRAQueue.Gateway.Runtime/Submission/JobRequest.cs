namespace LoRAQueue.Gateway.Submission;

/// <summary>
/// One job as a producer writes it (POST /v1/jobs, or one line of a batch). snake_case on the wire:
/// {"adapter", "prompt", "max_tokens", "temperature", "top_p", "top_k", "seed", "stop", "webhook_url", "metadata", "custom_id"}.
/// </summary>
public sealed record JobRequest
{
    /// <summary>The registered adapter id; null (or absent) = the base model.</summary>
    public string? Adapter { get; init; }
    public string? Prompt { get; init; }
    /// <summary>Tokens to generate; 64 when absent.</summary>
    public int? MaxTokens { get; init; }
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public int? TopK { get; init; }
    public ulong? Seed { get; init; }
    public string[]? Stop { get; init; }
    public string? WebhookUrl { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }
    public string? CustomId { get; init; }
}

/// <summary>What POST /v1/jobs answers (202).</summary>
public sealed record JobAccepted(Guid Id, string Status, string Queue, int? RankBucket, string? CustomId, DateTimeOffset SubmittedAt);
