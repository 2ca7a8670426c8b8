using System.Security.Claims;
using System.Text.Encodings.Web;
using LoRAQueue.History.Tenants;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace LoRAQueue.Gateway.Tenancy;

/// <summary>
/// Authentication by API key: <c>Authorization: Bearer lq_…</c>, looked up by its SHA-256 in api_keys on every request
/// (so a revoked key stops working at once). The tenant found rides on the request (<see cref="TenantHttpContext"/>).
/// A missing, unknown or revoked key is answered 401 with a problem body saying which.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger,
                                                UrlEncoder encoder, TenantStore tenants)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string TenantClaim = "loraqueue:tenant";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header)) return AuthenticateResult.NoResult();
        const string bearer = "Bearer ";
        if (!header.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
            return AuthenticateResult.Fail("the Authorization header must be 'Bearer <api key>'");
        string key = header[bearer.Length..].Trim();
        var tenant = await tenants.FindByKeyAsync(key, Context.RequestAborted);
        if (tenant is null) return AuthenticateResult.Fail("the API key is not valid (unknown or revoked)");

        Context.SetTenant(tenant);
        var identity = new ClaimsIdentity([new Claim(TenantClaim, tenant.Id), new Claim(ClaimTypes.Name, tenant.Name)], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        string detail = result.Failure?.Message ?? "this endpoint needs an API key: send 'Authorization: Bearer <api key>'";
        Response.Headers.WWWAuthenticate = "Bearer";
        await Problems.Unauthorized(detail).WriteAsync(Context);
    }
}

/// <summary>The authenticated tenant of a request.</summary>
public static class TenantHttpContext
{
    private static readonly object Key = new();

    internal static void SetTenant(this HttpContext context, Tenant tenant) => context.Items[Key] = tenant;

    /// <summary>The caller's tenant, or null on an unauthenticated request.</summary>
    public static Tenant? FindTenant(this HttpContext context) => context.Items.TryGetValue(Key, out var value) ? value as Tenant : null;

    /// <summary>The caller's tenant on an endpoint that requires authorization.</summary>
    public static Tenant Tenant(this HttpContext context) =>
        context.FindTenant() ?? throw new InvalidOperationException("no authenticated tenant on this request (endpoint without RequireAuthorization?)");
}
