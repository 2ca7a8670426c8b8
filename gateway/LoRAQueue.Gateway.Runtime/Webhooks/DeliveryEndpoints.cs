using LoRAQueue.Gateway.Tenancy;
using LoRAQueue.Webhooks;

namespace LoRAQueue.Gateway.Webhooks;

public sealed record DeliveryList(IReadOnlyList<WebhookDelivery> Data);

public sealed record DeliveryDetail(WebhookDelivery Delivery, IReadOnlyList<WebhookAttempt> Attempts);

/// <summary>The tenant's webhook deliveries: list, one with every attempt, replay (a dead or delivered one is sent again).</summary>
public static class DeliveryEndpoints
{
    public static RouteGroupBuilder MapDeliveryEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapGet("/webhooks/deliveries", ListAsync).WithName("ListWebhookDeliveries")
            .WithSummary("Deliveries newest first; filters status (pending|delivered|dead), job_id, batch_id; limit")
            .Produces<DeliveryList>().ProducesProblem(400);
        v1.MapGet("/webhooks/deliveries/{id:guid}", GetAsync).WithName("GetWebhookDelivery")
            .WithSummary("A delivery with its attempts").Produces<DeliveryDetail>().ProducesProblem(404);
        v1.MapPost("/webhooks/deliveries/{id:guid}/replay", ReplayAsync).WithName("ReplayWebhookDelivery")
            .WithSummary("Send a delivery again now (attempts so far are kept)").Produces<DeliveryDetail>(202).ProducesProblem(404);
        return v1;
    }

    private static async Task<IResult> ListAsync(HttpContext http, WebhookDeliveryStore deliveries, CancellationToken ct)
    {
        var r = http.Request;
        DeliveryStatus? status = r.Text("status") switch
        {
            null => null,
            "pending" => DeliveryStatus.Pending,
            "delivered" => DeliveryStatus.Delivered,
            "dead" => DeliveryStatus.Dead,
            var other => throw QueryParameters.Bad($"'status' must be pending, delivered or dead, got '{other}'"),
        };
        var list = await deliveries.ListAsync(http.Tenant().Id, r.Guid("job_id"), r.Guid("batch_id"), status,
                                              r.Int("limit", 100, 1, WebhookDeliveryStore.MaxListLimit), ct);
        return Results.Ok(new DeliveryList(list));
    }

    private static async Task<IResult> GetAsync(Guid id, HttpContext http, WebhookDeliveryStore deliveries, CancellationToken ct) =>
        await deliveries.GetAsync(http.Tenant().Id, id, ct) is { } found
            ? Results.Ok(new DeliveryDetail(found.Delivery, found.Attempts))
            : Problems.NotFound($"webhook delivery {id}").ToResult();

    private static async Task<IResult> ReplayAsync(Guid id, HttpContext http, WebhookDeliveryStore deliveries, CancellationToken ct)
    {
        string tenant = http.Tenant().Id;
        if (!await deliveries.ReplayAsync(tenant, id, ct)) return Problems.NotFound($"webhook delivery {id}").ToResult();
        var found = await deliveries.GetAsync(tenant, id, ct);
        return Results.Accepted($"/v1/webhooks/deliveries/{id}", found is { } f ? new DeliveryDetail(f.Delivery, f.Attempts) : null);
    }
}
