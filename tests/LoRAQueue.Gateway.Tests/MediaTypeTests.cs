using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace LoRAQueue.Gateway.Tests;

/// <summary>Each endpoint with a body reads one kind of body; any other Content-Type, or none, is 415 with a problem
/// that names the types it reads, and nothing is queued.</summary>
[Collection(GatewayCollection.Name)]
public sealed class MediaTypeTests(GatewayFixture fixture)
{
    private GatewayServer Server => fixture.Server;

    private const string Job = """{"custom_id": "c1", "prompt": "hi", "max_tokens": 1}""";

    private static ByteArrayContent Body(string text, string? contentType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        if (contentType is not null) content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return content;
    }

    public static TheoryData<string, string?, string> Refused => new()
    {
        { "/v1/jobs", "text/plain; charset=utf-8", "Content-Type 'text/plain' is not read by this endpoint; send application/json" },
        { "/v1/jobs", "application/x-www-form-urlencoded", "Content-Type 'application/x-www-form-urlencoded' is not read" }, // curl -d without -H
        { "/v1/jobs", null, "the request has no Content-Type; send application/json" },
        { "/v1/jobs", "application/json; charset=iso-8859-1", "charset 'iso-8859-1' is not read" },
        { "/v1/jobs", "application/jsonl", "Content-Type 'application/jsonl' is not read" },
        { "/v1/batches", "text/plain; charset=utf-8", "send application/jsonl (or application/x-ndjson" },
        { "/v1/batches", "application/json", "Content-Type 'application/json' is not read" },
        { "/v1/batches", null, "the request has no Content-Type; send application/jsonl" },
        { "/v1/jobs", "multipart/form-data; boundary=x", "Content-Type 'multipart/form-data' is not read" }, // uploads are for adapters only
        { "/v1/batches", "multipart/form-data; boundary=x", "Content-Type 'multipart/form-data' is not read" },
        { "/v1/adapters", "text/plain", "send application/json (or multipart/form-data)" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task A_body_of_a_type_the_endpoint_does_not_read_is_415_and_nothing_is_queued(string path, string? contentType, string message)
    {
        var tenant = await Server.CreateTenantAsync();
        string body = path == "/v1/adapters" ? $$"""{"id": "{{Server.CreateAdapter(8)}}"}""" : Job;

        var response = await tenant.Http.PostAsync(path, Body(body, contentType));

        string detail = await response.AssertProblem(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        Assert.True(detail.Contains(message, StringComparison.Ordinal), $"'{detail}' should contain '{message}'");
        Assert.Empty((await (await tenant.Http.GetAsync("/v1/adapters")).AssertStatus(HttpStatusCode.OK)).GetProperty("data").EnumerateArray());
        await Server.AssertNothingQueuedAsync(tenant);
    }

    public static TheoryData<string, string, HttpStatusCode> Accepted => new()
    {
        { "/v1/jobs", "application/json", HttpStatusCode.Accepted },
        { "/v1/jobs", "application/json; charset=UTF-8", HttpStatusCode.Accepted },
        { "/v1/jobs", "application/vnd.example.job+json", HttpStatusCode.Accepted },
        { "/v1/batches", "application/jsonl; charset=utf-8", HttpStatusCode.Accepted },
        { "/v1/batches", "application/x-ndjson", HttpStatusCode.Accepted },
        { "/v1/adapters", "application/json", HttpStatusCode.Created },
    };

    [Theory]
    [MemberData(nameof(Accepted))]
    public async Task The_types_an_endpoint_reads_are_accepted(string path, string contentType, HttpStatusCode status)
    {
        var tenant = await Server.CreateTenantAsync();
        string body = path == "/v1/adapters" ? $$"""{"id": "{{Server.CreateAdapter(8)}}"}""" : Job;

        await (await tenant.Http.PostAsync(path, Body(body, contentType))).AssertStatus(status);
    }
}
