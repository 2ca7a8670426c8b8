using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace LoRAQueue.Gateway.Tests;

/// <summary>One gateway for every test class in the collection; tests keep apart by using their own tenants.</summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    private GatewayServer? _server;

    public GatewayServer Server => _server ?? throw new InvalidOperationException("fixture not initialised");

    public async Task InitializeAsync() => _server = await GatewayServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class GatewayCollection : ICollectionFixture<GatewayFixture>
{
    public const string Name = "gateway";
}

public static class Http
{
    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static StringContent Json(object body) => Json(JsonSerializer.Serialize(body));

    public static StringContent Jsonl(params IEnumerable<string> lines) => new(string.Join("\n", lines) + "\n", Encoding.UTF8, "application/jsonl");

    public static async Task<JsonElement> JsonOf(this HttpResponseMessage response)
    {
        string text = await response.Content.ReadAsStringAsync();
        try
        {
            return JsonDocument.Parse(text).RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new Xunit.Sdk.XunitException($"{(int)response.StatusCode}: not JSON: {text}");
        }
    }

    /// <summary>Asserts the status and that the body is a problem with this code; returns its detail.</summary>
    public static async Task<string> AssertProblem(this HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await response.JsonOf();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, body.GetProperty("code").GetString());
        Assert.Equal((int)status, body.GetProperty("status").GetInt32());
        return body.GetProperty("detail").GetString()!;
    }

    public static async Task<JsonElement> AssertStatus(this HttpResponseMessage response, HttpStatusCode status)
    {
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    public static Task<HttpResponseMessage> PostJob(this HttpClient client, object job) => client.PostAsync("/v1/jobs", Json(job));

    public static async Task<Guid> SubmitJob(this HttpClient client, object job)
    {
        var body = await (await client.PostJob(job)).AssertStatus(HttpStatusCode.Accepted);
        return body.GetProperty("id").GetGuid();
    }

    public static async Task<string> RegisterAdapter(this HttpClient client, string id)
    {
        var response = await client.PostAsJsonAsync("/v1/adapters", new { id });
        await response.AssertStatus(HttpStatusCode.Created);
        return id;
    }
}

