using System.Net;
using LoRAQueue.History.Tenants;

namespace LoRAQueue.Gateway.Tests;

[Collection(GatewayCollection.Name)]
public sealed class AuthTests(GatewayFixture fixture)
{
    private GatewayServer Server => fixture.Server;

    [Theory]
    [InlineData(null, "this endpoint needs an API key: send 'Authorization: Bearer <api key>'")]
    [InlineData("lq_wrong-key-000000000000000000000000000000", "the API key is not valid (unknown or revoked)")]
    public async Task A_missing_or_wrong_key_is_401(string? key, string message)
    {
        using var client = Server.Client(key);
        foreach (var path in new[] { "/v1/jobs", "/v1/adapters", $"/v1/batches/{Guid.NewGuid()}", "/v1/webhooks/deliveries" })
        {
            var response = await client.GetAsync(path);
            Assert.Equal(message, await response.AssertProblem(HttpStatusCode.Unauthorized, "unauthorized"));
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        }
        var post = await client.PostJob(new { prompt = "p" });
        await post.AssertProblem(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task A_malformed_authorization_header_is_401()
    {
        var tenant = await Server.CreateTenantAsync();
        using var client = Server.Client();
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/jobs");
        request.Headers.TryAddWithoutValidation("Authorization", "Basic " + tenant.ApiKey);
        string detail = await (await client.SendAsync(request)).AssertProblem(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal("the Authorization header must be 'Bearer <api key>'", detail);
    }

    [Fact]
    public async Task A_revoked_key_stops_working_at_once_and_other_keys_keep_working()
    {
        var tenant = await Server.CreateTenantAsync();
        string second = await Server.Tenants.CreateKeyAsync(tenant.Id);
        await (await tenant.Http.GetAsync("/v1/jobs")).AssertStatus(HttpStatusCode.OK);

        Assert.Equal(1, await Server.Tenants.RevokeKeyAsync(tenant.Id, ApiKeys.PrefixOf(tenant.ApiKey)));
        await (await tenant.Http.GetAsync("/v1/jobs")).AssertProblem(HttpStatusCode.Unauthorized, "unauthorized");
        using var other = Server.Client(second);
        await (await other.GetAsync("/v1/jobs")).AssertStatus(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Past_the_tenants_rate_the_answer_is_429_with_retry_after_and_other_tenants_are_unaffected()
    {
        var limited = await Server.CreateTenantAsync(new TenantLimits(RequestsPerMinute: 3));
        var neighbour = await Server.CreateTenantAsync(new TenantLimits(RequestsPerMinute: 3));
        for (int i = 0; i < 3; i++) await (await limited.Http.GetAsync("/v1/jobs")).AssertStatus(HttpStatusCode.OK);

        var refused = await limited.Http.PostJob(new { prompt = "one too many" });
        string detail = await refused.AssertProblem(HttpStatusCode.TooManyRequests, "rate_limited");
        Assert.StartsWith("this tenant's limit of 3 requests per minute is used up; retry after", detail);
        var retryAfter = refused.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        Assert.Empty(Server.QueuedFor(limited.Id));
        Assert.Empty((await Server.History.ListAsync(new LoRAQueue.History.JobQuery(Tenant: limited.Id), CancellationToken.None)).Items);

        await (await neighbour.Http.GetAsync("/v1/jobs")).AssertStatus(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Health_metrics_and_the_openapi_document_need_no_key()
    {
        using var client = Server.Client();
        Assert.NotEqual(HttpStatusCode.Unauthorized, (await client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/openapi/v1.json")).StatusCode);
    }
}
