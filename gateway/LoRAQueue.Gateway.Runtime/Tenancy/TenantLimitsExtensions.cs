using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.RateLimiting;

namespace LoRAQueue.Gateway.Tenancy;

/// <summary>
/// Per-tenant limits. Rate: ASP.NET Core's rate limiter with one fixed one-minute window per tenant (partition key =
/// tenant and its current limit, so a changed limit applies from the next request); 429 with Retry-After. Body size:
/// a declared Content-Length over the tenant's max_body_bytes (an upload's: <see cref="UploadBodyLimit"/>) is refused at once,
/// and Kestrel's per-request limit is lowered to it so a chunked body fails as soon as it goes over (<see cref="RequestBody"/>
/// counts too).
/// </summary>
public static class TenantLimitsExtensions
{
    public static IServiceCollection AddTenantRateLimits(this IServiceCollection services) =>
        services.AddRateLimiter(options =>
        {
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                context.FindTenant() is { } tenant
                    ? RateLimitPartition.GetFixedWindowLimiter($"{tenant.Id}\n{tenant.RequestsPerMinute}", _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = tenant.RequestsPerMinute,
                        Window = TimeSpan.FromMinutes(1),
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    })
                    : RateLimitPartition.GetNoLimiter(""));
            options.OnRejected = (context, _) => new ValueTask(Reject(context));
        });

    private static Task Reject(OnRejectedContext context)
    {
        var http = context.HttpContext;
        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan wait) ? wait : TimeSpan.FromMinutes(1);
        if (retryAfter < TimeSpan.FromSeconds(1)) retryAfter = TimeSpan.FromSeconds(1);
        return Problems.RateLimited(http.FindTenant()?.RequestsPerMinute ?? 0, retryAfter).WriteAsync(http);
    }

    /// <summary>Refuses an oversized declared body (413) and caps how much of any body the server will read: the tenant's
    /// max_body_bytes within LoRAQueue:Gateway:MaxBodyBytes, or an upload's own limit (<see cref="UploadBodyLimit"/>).
    /// Kestrel's server-wide limit is the larger of the two settings, so every other request is lowered here.</summary>
    public static IApplicationBuilder UseTenantBodyLimit(this IApplicationBuilder app)
    {
        long serverLimit = app.ApplicationServices.GetRequiredService<GatewaySettings>().MaxBodyBytes;
        return app.Use(async (context, next) =>
        {
            long limit = serverLimit;
            // Without a tenant the request gets its 401 before any body is read: no 413 for it.
            if (context.FindTenant() is { } tenant)
            {
                var upload = context.GetEndpoint()?.Metadata.GetMetadata<UploadBodyLimit>();
                var (tenantLimit, tooLarge) = upload is not null && upload.Covers(context.Request)
                    ? (upload.MaxBytes, Problems.UploadTooLarge(upload.MaxBytes))
                    : (Math.Min(tenant.MaxBodyBytes, serverLimit), Problems.BodyTooLarge(tenant.MaxBodyBytes));
                if (context.Request.ContentLength > tenantLimit)
                {
                    await tooLarge.WriteAsync(context);
                    return;
                }
                limit = tenantLimit;
            }
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
                feature.MaxRequestBodySize = Math.Min(feature.MaxRequestBodySize ?? long.MaxValue, limit);
            await next(context);
        });
    }
}

/// <summary>Endpoint metadata: a body of <see cref="Type"/> sent to this endpoint is bounded by <see cref="MaxBytes"/> (a gateway
/// setting) instead of the tenant's max_body_bytes, which is sized for JSON, not for an adapter's weights.</summary>
public sealed record UploadBodyLimit(BodyMediaType Type, long MaxBytes)
{
    public bool Covers(HttpRequest request) => Type.Refusal(request.ContentType) is null;
}
