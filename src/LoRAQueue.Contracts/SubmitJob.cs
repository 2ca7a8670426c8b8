namespace LoRAQueue.Contracts;

/// <summary>Sampling settings of a job. Temperature 0 = greedy; TopK 0 and TopP 1 = off.</summary>
public sealed record SamplingOptions
{
    public float Temperature { get; init; }
    public float TopP { get; init; } = 1;
    public int TopK { get; init; }
    public ulong? Seed { get; init; }
    public string[]? Stop { get; init; }
}

/// <summary>Command: run one generation. Sent to the rank queue of the adapter's bucket (lora-base without an adapter).
/// Carried as raw camelCase JSON so that a producer in any language can publish it with a plain AMQP client.</summary>
public sealed record SubmitJob
{
    public int SchemaVersion { get; init; } = MessageSchema.CurrentVersion;
    public Guid JobId { get; init; }
    public string Tenant { get; init; } = "";
    /// <summary>Null = the base model.</summary>
    public string? AdapterId { get; init; }
    public string Prompt { get; init; } = "";
    public SamplingOptions? Sampling { get; init; }
    public int MaxTokens { get; init; } = 64;
    public string? WebhookUrl { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }
    public DateTimeOffset SubmittedAt { get; init; }
    /// <summary>The batch the job was submitted in (gateway batches), null for a single job.</summary>
    public Guid? BatchId { get; init; }
    /// <summary>The producer's own id for the job (a batch line's custom_id); echoed in results and webhooks.</summary>
    public string? CustomId { get; init; }
    /// <summary>The producer (the gateway) already added this job's token demand to the load state when it admitted it;
    /// the worker does not count it again. False for producers that do not (a plain AMQP client): the worker counts it.</summary>
    public bool DemandRecorded { get; init; }
}

public static class MessageSchema
{
    /// <summary>The schema version these records describe; readers accept this and older.</summary>
    public const int CurrentVersion = 1;
}
