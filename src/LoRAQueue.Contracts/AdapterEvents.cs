namespace LoRAQueue.Contracts;

/// <summary>A source passed over during a pull, and why: "timeout", "digest_mismatch" (served other bytes),
/// "unreachable" (the peer is gone or refused) or "error".</summary>
public sealed record AdapterPullSkip(string Source, string Reason, string Message);

/// <summary>Event: a worker pulled an adapter's bytes into its host cache. <see cref="Source"/> is "peer" or "store";
/// <see cref="From"/> the peer's worker id or "store"; <see cref="Cause"/> "job" or "placement".</summary>
public sealed record AdapterPulled
{
    public int SchemaVersion { get; init; } = MessageSchema.CurrentVersion;
    public string Worker { get; init; } = "";
    public string AdapterId { get; init; } = "";
    public string Digest { get; init; } = "";
    public string Source { get; init; } = "";
    public string From { get; init; } = "";
    public long Bytes { get; init; }
    public double Ms { get; init; }
    public string Cause { get; init; } = "job";
    public string Transport { get; init; } = "";
    public IReadOnlyList<AdapterPullSkip> Skipped { get; init; } = [];
    public DateTimeOffset At { get; init; }
}

/// <summary>Event: no source gave an adapter's registered bytes. <see cref="Reason"/>: "store_mismatch" (its files in the
/// store changed since it was registered), "store_missing", "store_error" or "abandoned"; the jobs that needed it failed
/// with unknown_adapter and a message saying the same.</summary>
public sealed record AdapterPullFailed
{
    public int SchemaVersion { get; init; } = MessageSchema.CurrentVersion;
    public string Worker { get; init; } = "";
    public string AdapterId { get; init; } = "";
    public string Digest { get; init; } = "";
    public string Reason { get; init; } = "";
    public string Message { get; init; } = "";
    public IReadOnlyList<AdapterPullSkip> Skipped { get; init; } = [];
    public DateTimeOffset At { get; init; }
}
