using LoRAQueue.Contracts;

namespace LoRAQueue.History.Tests;

/// <summary>One job's messages, consistent with each other, as a worker would send them.</summary>
public sealed record JobEvents(Guid JobId, string Tenant, string? AdapterId, int? RankBucket, DateTimeOffset SubmittedAt)
{
    public static readonly DateTimeOffset Epoch = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public static JobEvents New(string? tenant = null, string? adapterId = "support-bot", int? rankBucket = 16,
                                DateTimeOffset? submittedAt = null) =>
        new(Guid.NewGuid(), tenant ?? "tenant-" + Guid.NewGuid().ToString("N")[..8], adapterId, rankBucket, submittedAt ?? Epoch);

    public SubmitJob Submit => new()
    {
        JobId = JobId, Tenant = Tenant, AdapterId = AdapterId, Prompt = "Summarise the ticket", MaxTokens = 32,
        WebhookUrl = "https://client.example/hooks/jobs", Metadata = new() { ["ticket"] = "T-17", ["priority"] = "high" },
        SubmittedAt = SubmittedAt,
    };

    public JobStarted Started(string worker = "worker-a") => new()
    {
        JobId = JobId, Tenant = Tenant, AdapterId = AdapterId, RankBucket = RankBucket, Worker = worker,
        SubmittedAt = SubmittedAt, StartedAt = SubmittedAt.AddMilliseconds(250), Prompt = "Summarise the ticket",
        Metadata = new() { ["ticket"] = "T-17", ["priority"] = "high" }, WebhookUrl = "https://client.example/hooks/jobs",
    };

    public JobCompleted Completed(string output = "The customer wants a refund.", string worker = "worker-a") => new()
    {
        JobId = JobId, Tenant = Tenant, AdapterId = AdapterId, RankBucket = RankBucket, Worker = worker,
        OutputText = output, PromptTokens = 5, OutputTokens = 7, FinishReason = "eos",
        Timings = new JobTimings(QueueMs: 250, WaitMs: 3, TtftMs: 40, TpotMs: 12.5, TotalMs: 380),
        AdapterLoad = AdapterId is null ? null : new AdapterLoad("peer", 85.25), // none for a base-model job
        SubmittedAt = SubmittedAt, CompletedAt = SubmittedAt.AddMilliseconds(380),
        WebhookUrl = "https://client.example/hooks/jobs", Metadata = new() { ["ticket"] = "T-17", ["priority"] = "high" },
    };

    public JobFailed Failed(string reason = FailureReasons.PromptTooLong, string worker = "worker-a") => new()
    {
        JobId = JobId, Tenant = Tenant, AdapterId = AdapterId, RankBucket = RankBucket, Worker = worker,
        ReasonCode = reason, Message = "prompt has 9000 tokens; the model takes 2048",
        SubmittedAt = SubmittedAt, FailedAt = SubmittedAt.AddMilliseconds(300),
        WebhookUrl = "https://client.example/hooks/jobs", Metadata = new() { ["ticket"] = "T-17", ["priority"] = "high" },
    };
}

public static class JobAssert
{
    /// <summary>Every column equal (metadata by content).</summary>
    public static void Same(JobRecord expected, JobRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected with { Metadata = null }, actual with { Metadata = null });
        Assert.Equal(expected.Metadata?.OrderBy(kv => kv.Key), actual.Metadata?.OrderBy(kv => kv.Key));
    }
}
