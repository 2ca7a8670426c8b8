using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.RateLimiting;

namespace LoRAQueue.Gateway.Tenancy;

/// <summary>
/// Per-tenant limits. Rate: ASP.NET Core's rate limiter with one fixed one-minute window per tenant (partition key =
/// tenant and its current limit, so a changed limit applies from the next request); 429 with Retry-After. Body size:
/// a declared Content-Length over the tenant's max_body_bytes is refused at once, and Kestrel's per-request limit is
/// lowered to it so a chunked body fails as soon as it goes over (<see cref="RequestBody"/> counts too).
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

    /// <summary>Refuses an oversized declared body (413) and caps how much of any body the server will read.</summary>
    public static IApplicationBuilder UseTenantBodyLimit(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.FindTenant() is { } tenant)
        {
            if (context.Request.ContentLength > tenant.MaxBodyBytes)
            {
                await Problems.BodyTooLarge(tenant.MaxBodyBytes).WriteAsync(context);
                return;
            }
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
                feature.MaxRequestBodySize = Math.Min(feature.MaxRequestBodySize ?? long.MaxValue, tenant.MaxBodyBytes);
        }
        await next(context);
    });
}
