using System.Text.Json;
using LoRAQueue.Contracts;

namespace LoRAQueue.Webhooks;

/// <summary>The JSON bodies (snake_case, nulls written out so receivers see every field). See docs/webhooks.md.</summary>
internal static class WebhookBodies
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public static string Job(JobCompleted e) => Serialize(new Envelope<JobData>(WebhookEventTypes.JobCompleted, e.CompletedAt.ToUniversalTime(),
        new JobData(e.JobId, e.CustomId, e.BatchId, e.AdapterId, "completed", e.OutputText, e.PromptTokens, e.OutputTokens,
            e.FinishReason, null, new Timings(e.Timings.QueueMs, e.Timings.TtftMs, e.Timings.TpotMs, e.Timings.TotalMs),
            e.SubmittedAt.ToUniversalTime(), e.CompletedAt.ToUniversalTime())));

    public static string Job(JobFailed e) => Serialize(new Envelope<JobData>(WebhookEventTypes.JobFailed, e.FailedAt.ToUniversalTime(),
        new JobData(e.JobId, e.CustomId, e.BatchId, e.AdapterId, "failed", null, null, null, null,
            new Error(e.ReasonCode, e.Message), null, e.SubmittedAt.ToUniversalTime(), e.FailedAt.ToUniversalTime())));

    public static string Batch(Guid batchId, int completed, int failed, int accepted, int rejected, DateTimeOffset completedAt) =>
        Serialize(new Envelope<BatchData>(WebhookEventTypes.BatchCompleted, completedAt.ToUniversalTime(),
            new BatchData(batchId, new Counts(completed, failed), accepted, rejected, completedAt.ToUniversalTime())));

    private static string Serialize<T>(Envelope<T> envelope) => JsonSerializer.Serialize(envelope, Json);

    private sealed record Envelope<T>(string Type, DateTimeOffset Timestamp, T Data);

    private sealed record JobData(Guid JobId, string? CustomId, Guid? BatchId, string? AdapterId, string Status, string? OutputText,
        int? PromptTokens, int? OutputTokens, string? FinishReason, Error? Error, Timings? Timings,
        DateTimeOffset SubmittedAt, DateTimeOffset CompletedAt);

    private sealed record Error(string Code, string Message);

    private sealed record Timings(double QueueMs, double TtftMs, double TpotMs, double TotalMs);

    private sealed record BatchData(Guid BatchId, Counts Counts, int Accepted, int Rejected, DateTimeOffset CompletedAt);

    private sealed record Counts(int Completed, int Failed);
}
