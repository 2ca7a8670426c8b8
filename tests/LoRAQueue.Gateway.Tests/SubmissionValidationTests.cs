using System.Net;
using System.Text;
using System.Text.Json;
using LoRAQueue.History;
using LoRAQueue.History.Tenants;

namespace LoRAQueue.Gateway.Tests;

/// <summary>Every refusal at POST /v1/jobs: the status, a problem with a stable code and a message that says what to fix,
/// and nothing queued or recorded for the tenant.</summary>
[Collection(GatewayCollection.Name)]
public sealed class SubmissionValidationTests(GatewayFixture fixture)
{
    private GatewayServer Server => fixture.Server;

    private static readonly string LongPrompt = string.Join(" ", Enumerable.Repeat("the quick brown fox jumps", 200));
    private static readonly string MediumPrompt = string.Join(" ", Enumerable.Repeat("summarise this", 25));

    public static TheoryData<string, string, HttpStatusCode, string, string> Rejections => new()
    {
        { "malformed JSON", "{\"prompt\": \"hi\",", HttpStatusCode.BadRequest, "invalid_json", "the job is not valid JSON" },
        { "not an object", "[1, 2]", HttpStatusCode.BadRequest, "invalid_json", "the job" },
        { "unknown field", "{\"prompt\": \"hi\", \"max_token\": 5}", HttpStatusCode.BadRequest, "invalid_json", "unknown field 'max_token'" },
        { "wrong type", "{\"prompt\": \"hi\", \"max_tokens\": \"many\"}", HttpStatusCode.BadRequest, "invalid_json", "field 'max_tokens' has the wrong type" },
        { "missing prompt", "{\"max_tokens\": 5}", HttpStatusCode.BadRequest, "invalid_request", "prompt is required" },
        { "blank adapter", "{\"prompt\": \"hi\", \"adapter\": \" \"}", HttpStatusCode.BadRequest, "invalid_request", "adapter is blank" },
        { "max_tokens zero", "{\"prompt\": \"hi\", \"max_tokens\": 0}", HttpStatusCode.BadRequest, "invalid_max_tokens", "max_tokens must be between 1 and 511 (got 0)" },
        { "max_tokens over context", "{\"prompt\": \"hi\", \"max_tokens\": 512}", HttpStatusCode.BadRequest, "invalid_max_tokens", "max_tokens must be between 1 and 511 (got 512); the model's context is 512 tokens" },
        { "top_p out of range", "{\"prompt\": \"hi\", \"top_p\": 1.5}", HttpStatusCode.BadRequest, "invalid_request", "top_p must be in (0, 1]" },
        { "negative temperature", "{\"prompt\": \"hi\", \"temperature\": -1}", HttpStatusCode.BadRequest, "invalid_request", "temperature must be a number ≥ 0" },
        { "empty stop string", "{\"prompt\": \"hi\", \"stop\": [\"\"]}", HttpStatusCode.BadRequest, "invalid_request", "stop must not contain empty strings" },
        { "unknown adapter", "{\"prompt\": \"hi\", \"adapter\": \"no-such-adapter\"}", (HttpStatusCode)422, "unknown_adapter", "adapter 'no-such-adapter' is not registered" },
        { "prompt longer than the context", JsonSerializer.Serialize(new { prompt = LongPrompt, max_tokens = 1 }), (HttpStatusCode)422, "prompt_too_long", "beyond the model's context of 512 tokens" },
        { "prompt plus max_tokens over the context", JsonSerializer.Serialize(new { prompt = MediumPrompt, max_tokens = 500 }), (HttpStatusCode)422, "prompt_too_long", "with max_tokens 500 that is" },
        { "webhook to cloud metadata", "{\"prompt\": \"hi\", \"webhook_url\": \"http://169.254.169.254/latest\"}", (HttpStatusCode)422, "webhook_url_refused", "webhook_url is refused:" },
        { "webhook to a private network", "{\"prompt\": \"hi\", \"webhook_url\": \"http://10.0.0.1/hook\"}", (HttpStatusCode)422, "webhook_url_refused", "webhook_url is refused:" },
        { "webhook not http", "{\"prompt\": \"hi\", \"webhook_url\": \"ftp://example.com/x\"}", (HttpStatusCode)422, "webhook_url_refused", "webhook_url is refused:" },
    };

    [Theory]
    [MemberData(nameof(Rejections))]
    public async Task A_refused_job_gets_a_problem_and_nothing_is_queued(string name, string body, HttpStatusCode status, string code, string message)
    {
        var tenant = await Server.CreateTenantAsync();
        var response = await tenant.Http.PostAsync("/v1/jobs", Http.Json(body));
        string detail = await response.AssertProblem(status, code);
        Assert.True(detail.Contains(message, StringComparison.Ordinal), $"{name}: '{detail}' should contain '{message}'");
        await Server.AssertNothingQueuedAsync(tenant);
    }

    [Fact]
    public async Task Another_tenants_adapter_is_refused_like_an_unknown_one()
    {
        var owner = await Server.CreateTenantAsync();
        var other = await Server.CreateTenantAsync();
        string adapter = await owner.Http.RegisterAdapter(Server.CreateAdapter(8));

        var response = await other.Http.PostJob(new { prompt = "hi", adapter });
        string detail = await response.AssertProblem((HttpStatusCode)422, "unknown_adapter");
        Assert.Equal($"adapter '{adapter}' is not registered for this tenant (register it with POST /v1/adapters)", detail);
        await Server.AssertNothingQueuedAsync(other);
    }

    [Fact]
    public async Task A_body_over_the_tenants_limit_is_413_whether_declared_or_chunked()
    {
        var tenant = await Server.CreateTenantAsync(new TenantLimits(MaxBodyBytes: 1024));
        string big = JsonSerializer.Serialize(new { prompt = new string('x', 4000) });

        var declared = await tenant.Http.PostAsync("/v1/jobs", Http.Json(big));
        Assert.Equal("the request body exceeds this tenant's limit of 1024 bytes",
                     await declared.AssertProblem(HttpStatusCode.RequestEntityTooLarge, "body_too_large"));

        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        chunked.Headers.ContentType = new("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/jobs") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        var streamed = await tenant.Http.SendAsync(request);
        await streamed.AssertProblem(HttpStatusCode.RequestEntityTooLarge, "body_too_large");

        await Server.AssertNothingQueuedAsync(tenant);
    }
}
