namespace LoRAQueue.Webhooks;

public enum DeliveryStatus { Pending, Delivered, Dead }

/// <summary>One event to send to one URL. <see cref="Id"/> is the webhook-id header, the same on every attempt.</summary>
public sealed record WebhookDelivery(Guid Id, string Tenant, string EventType, Guid? JobId, Guid? BatchId, string Url,
    DeliveryStatus Status, int AttemptCount, DateTimeOffset CreatedAt, DateTimeOffset? NextAttemptAt, DateTimeOffset? DeliveredAt);

/// <summary>One HTTP try: <see cref="StatusCode"/> is null when no response came; <see cref="Error"/> is null on a 2xx.</summary>
public sealed record WebhookAttempt(int Number, DateTimeOffset At, int? StatusCode, double LatencyMs, string? Error);

/// <summary>The event types (the body's "type").</summary>
public static class WebhookEventTypes
{
    public const string JobCompleted = "job.completed";
    public const string JobFailed = "job.failed";
    public const string BatchCompleted = "batch.completed";
}

internal static class DeliveryStatuses
{
    public static string Name(DeliveryStatus status) => status switch
    {
        DeliveryStatus.Pending => "pending",
        DeliveryStatus.Delivered => "delivered",
        DeliveryStatus.Dead => "dead",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "unknown delivery status"),
    };

    public static DeliveryStatus Parse(string name) => name switch
    {
        "pending" => DeliveryStatus.Pending,
        "delivered" => DeliveryStatus.Delivered,
        "dead" => DeliveryStatus.Dead,
        _ => throw new InvalidOperationException($"unknown delivery status '{name}' in webhook_deliveries"),
    };

    /// <summary>Postgres keeps microseconds and Npgsql returns timestamptz as UTC DateTime.</summary>
    public static DateTimeOffset FromUtc(DateTime utc) => new(DateTime.SpecifyKind(utc, DateTimeKind.Utc));

    public static DateTimeOffset? FromUtc(DateTime? utc) => utc is { } v ? FromUtc(v) : null;
}
