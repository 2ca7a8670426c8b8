namespace LoRAQueue.Contracts;

/// <summary>Durations in milliseconds. Queue = submitted → picked up by a worker; Wait = in the engine before its
/// first step; Ttft = engine submit → first output token; Tpot = per output token after the first; Total = submitted → done.</summary>
public sealed record JobTimings(double QueueMs, double WaitMs, double TtftMs, double TpotMs, double TotalMs);

/// <summary>How the job's adapter became usable: <see cref="Source"/> is where its bytes were ("active": loaded in the
/// engine already; "host": the worker's host cache; "peer": pulled from another worker; "store": read from the adapter
/// store) and <see cref="Ms"/> how long the job waited for it.</summary>
public sealed record AdapterLoad(string Source, double Ms)
{
    public static readonly IReadOnlyList<string> Sources = ["active", "host", "peer", "store"];
}

/// <summary>Event: a worker accepted the job and handed it to its engine.</summary>
public sealed record JobStarted
{
    public int SchemaVersion { get; init; } = MessageSchema.CurrentVersion;
    public Guid JobId { get; init; }
    public string Tenant { get; init; } = "";
    public string? AdapterId { get; init; }
    public int? RankBucket { get; init; }
    public string Worker { get; init; } = "";
    public DateTimeOffset SubmittedAt { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public string Prompt { get; init; } = "";
    public Dictionary<string, string>? Metadata { get; init; }
    public Guid? BatchId { get; init; }
    public string? CustomId { get; init; }
    public string? WebhookUrl { get; init; }
}

/// <summary>Event: the job's output is ready. Published before the SubmitJob message is acknowledged.</summary>
public sealed record JobCompleted
{
    public int SchemaVersion { get; init; } = MessageSchema.CurrentVersion;
    public Guid JobId { get; init; }
    public string Tenant { get; init; } = "";
    public string? AdapterId { get; init; }
    public int? RankBucket { get; init; }
    public string Worker { get; init; } = "";
    public string OutputText { get; init; } = "";
    public int PromptTokens { get; init; }
    public int OutputTokens { get; init; }
    /// <summary>"eos" | "stop" | "length" | "cancelled".</summary>
    public string FinishReason { get; init; } = "";
    public JobTimings Timings { get; init; } = new(0, 0, 0, 0, 0);
    /// <summary>Null for base-model jobs.</summary>
    public AdapterLoad? AdapterLoad { get; init; }
    public DateTimeOffset SubmittedAt { get; init; }
    public DateTimeOffset CompletedAt { get; init; }
    public string? WebhookUrl { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }
    public Guid? BatchId { get; init; }
    public string? CustomId { get; init; }
}

/// <summary>Event: the job can never complete; ReasonCode is one of <see cref="FailureReasons"/>.</summary>
public sealed record JobFailed
{
    public int SchemaVersion { get; init; } = MessageSchema.CurrentVersion;
    public Guid JobId { get; init; }
    public string Tenant { get; init; } = "";
    public string? AdapterId { get; init; }
    public int? RankBucket { get; init; }
    public string? Worker { get; init; }
    public string ReasonCode { get; init; } = "";
    public string Message { get; init; } = "";
    public DateTimeOffset SubmittedAt { get; init; }
    public DateTimeOffset FailedAt { get; init; }
    public string? WebhookUrl { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }
    public Guid? BatchId { get; init; }
    public string? CustomId { get; init; }
}

/// <summary>Stable reason codes: a JobFailed's ReasonCode and, for the admission rules, the gateway's problem code too.</summary>
public static class FailureReasons
{
    public const string UnknownAdapter = "unknown_adapter";
    public const string PromptTooLong = "prompt_too_long";
    public const string InvalidRequest = "invalid_request";
    public const string InvalidMaxTokens = "invalid_max_tokens";
    public const string WebhookUrlRefused = "webhook_url_refused";
    public const string EngineError = "engine_error";
}
