using System.Diagnostics;

namespace LoRAQueue.Webhooks;

/// <summary>
/// A <c>webhook.attempt</c> span per HTTP try, in the trace of the job whose event made the delivery: the enqueuer keeps
/// the traceparent of its consume span with the delivery, and every attempt — minutes or hours later, in any gateway
/// process — starts its span under it. The HTTP client span of the POST nests under the attempt.
/// </summary>
internal static class WebhookTracing
{
    public static readonly ActivitySource Source = new("LoRAQueue.Webhooks");

    /// <summary>The traceparent to store with a new delivery: the current span's, when it is sampled.</summary>
    public static string? CurrentTraceParent() =>
        Activity.Current is { Recorded: true, IdFormat: ActivityIdFormat.W3C } span ? span.Id : null;

    public static Activity? StartAttempt(ClaimedDelivery delivery)
    {
        if (!Source.HasListeners()) return null;
        // A batch's delivery (or one made with tracing off) has no parent: its attempts start traces of their own.
        ActivityContext.TryParse(delivery.TraceParent, null, out var parent);
        var span = Source.StartActivity("webhook.attempt", ActivityKind.Internal, parent);
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("loraqueue.delivery_id", delivery.Id.ToString());
            span.SetTag("loraqueue.event_type", delivery.EventType);
            span.SetTag("loraqueue.tenant", delivery.Tenant);
            span.SetTag("loraqueue.attempt", delivery.AttemptCount + 1);
        }
        return span;
    }

    public static void Outcome(Activity? span, AttemptOutcome outcome, DeliveryStatus? status)
    {
        if (span is not { IsAllDataRequested: true }) return;
        if (outcome.StatusCode is { } code) span.SetTag("http.response.status_code", code);
        span.SetTag("loraqueue.delivery_status", status is { } s ? DeliveryStatuses.Name(s) : "claim_lost");
        if (!outcome.Succeeded) span.SetStatus(ActivityStatusCode.Error, outcome.Error);
    }
}
