using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using LoRAQueue.Contracts;
using LoRAQueue.History;
using LoRAQueue.History.Tenants;
using Xunit.Abstractions;

namespace LoRAQueue.Integration.Tests;

/// <summary>
/// Every SubmitJob rule at both entrances: the same broken job sent over HTTP (the gateway refuses it) and published as raw
/// JSON to its rank queue (a worker fails it) ends with the same code — HTTP problem <c>code</c> and JobFailed reasonCode.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class AdmissionParityTests(ModelFiles files, ITestOutputHelper output)
{
    /// <summary>One rule broken: what to change in a valid HTTP body and in the same job's raw AMQP JSON.</summary>
    public sealed record Case(string Rule, string Code, Action<JsonObject>? Http, Action<JsonObject> Amqp, bool ForeignTenant = false);

    private static readonly string LongPrompt = string.Join(' ', Enumerable.Range(0, 700).Select(i => $"w{i}"));

    private static readonly Case[] Cases =
    [
        new("prompt empty", FailureReasons.InvalidRequest, h => h["prompt"] = "  ", a => a["prompt"] = "  "),
        new("adapter blank", FailureReasons.InvalidRequest, h => h["adapter"] = " ", a => a["adapterId"] = " "),
        new("max tokens 0", FailureReasons.InvalidMaxTokens, h => h["max_tokens"] = 0, a => a["maxTokens"] = 0),
        new("max tokens beyond the context", FailureReasons.InvalidMaxTokens, h => h["max_tokens"] = 100_000, a => a["maxTokens"] = 100_000),
        new("temperature negative", FailureReasons.InvalidRequest, h => h["temperature"] = -1, a => a["sampling"] = new JsonObject { ["temperature"] = -1 }),
        new("top_p 0", FailureReasons.InvalidRequest, h => h["top_p"] = 0, a => a["sampling"] = new JsonObject { ["topP"] = 0 }),
        new("top_k negative", FailureReasons.InvalidRequest, h => h["top_k"] = -1, a => a["sampling"] = new JsonObject { ["topK"] = -1 }),
        new("17 stop strings", FailureReasons.InvalidRequest, h => h["stop"] = Stops(17), a => a["sampling"] = new JsonObject { ["stop"] = Stops(17) }),
        new("empty stop string", FailureReasons.InvalidRequest, h => h["stop"] = new JsonArray(""), a => a["sampling"] = new JsonObject { ["stop"] = new JsonArray("") }),
        new("65 metadata entries", FailureReasons.InvalidRequest, h => h["metadata"] = Metadata(65), a => a["metadata"] = Metadata(65)),
        new("metadata value too long", FailureReasons.InvalidRequest,
            h => h["metadata"] = new JsonObject { ["k"] = new string('v', 2049) }, a => a["metadata"] = new JsonObject { ["k"] = new string('v', 2049) }),
        new("custom id too long", FailureReasons.InvalidRequest, h => h["custom_id"] = new string('c', 257), a => a["customId"] = new string('c', 257)),
        new("webhook URL not http", FailureReasons.WebhookUrlRefused, h => h["webhook_url"] = "ftp://example.com/x", a => a["webhookUrl"] = "ftp://example.com/x"),
        new("adapter not registered", FailureReasons.UnknownAdapter, h => h["adapter"] = "ghost", a => a["adapterId"] = "ghost"),
        new("adapter id not a name", FailureReasons.UnknownAdapter, h => h["adapter"] = "../r8", a => a["adapterId"] = "../r8"),
        new("another tenant's adapter", FailureReasons.UnknownAdapter, null, a => a["tenant"] = "other", ForeignTenant: true),
        new("prompt tokens beyond the context", FailureReasons.PromptTooLong, h => h["prompt"] = LongPrompt, a => a["prompt"] = LongPrompt),
        new("prompt characters beyond any context", FailureReasons.PromptTooLong,
            h => h["prompt"] = new string('x', 512 * 64 + 1), a => a["prompt"] = new string('x', 512 * 64 + 1)),
        // Only raw producers set the schema version; the gateway always writes the current one.
        new("schema version unknown", FailureReasons.InvalidRequest, null, a => a["schemaVersion"] = 99),
    ];

    [Fact]
    public async Task Each_rule_broken_over_http_and_over_raw_amqp_ends_with_the_same_code()
    {
        await using var stack = await GatewayStack.StartAsync(files);
        var other = await new TenantStore(stack.Pipeline.DataSource).CreateAsync("other", "Other");
        using var otherHttp = new HttpClient { BaseAddress = stack.Gateway };
        otherHttp.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", other.ApiKey);

        var published = new List<(Case Case, Guid JobId)>();
        foreach (var c in Cases)
        {
            if (c.Http is not null || c.ForeignTenant)
            {
                var body = new JsonObject { ["adapter"] = "r8", ["prompt"] = "hello there", ["max_tokens"] = 4 };
                c.Http?.Invoke(body);
                using var response = await (c.ForeignTenant ? otherHttp : stack.Http).PostAsJsonAsync("v1/jobs", body);
                var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
                output.WriteLine($"HTTP {c.Rule}: {(int)response.StatusCode} {problem["code"]}: {problem["detail"]}");
                Assert.True(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity, $"{c.Rule}: {response.StatusCode}");
                Assert.Equal(c.Code, (string?)problem["code"]);
            }

            var job = new JsonObject
            {
                ["jobId"] = Guid.NewGuid().ToString(), ["tenant"] = Pipeline.Tenant, ["adapterId"] = "r8", ["prompt"] = "hello there", ["maxTokens"] = 4,
            };
            c.Amqp(job);
            await stack.Pipeline.PublishRawAsync("lora-rank-8", job.ToJsonString());
            published.Add((c, Guid.Parse((string)job["jobId"]!)));
        }

        var failed = await stack.Pipeline.WaitForJobsAsync([.. published.Select(p => p.JobId)], JobStatus.Failed, TimeSpan.FromSeconds(60));
        foreach (var (c, jobId) in published)
        {
            var record = failed.Single(r => r.JobId == jobId);
            output.WriteLine($"AMQP {c.Rule}: {record.ErrorCode}: {record.ErrorMessage}");
            Assert.True(c.Code == record.ErrorCode, $"{c.Rule}: raw AMQP gave {record.ErrorCode} ({record.ErrorMessage}), HTTP gives {c.Code}");
        }

        // Nothing refused over HTTP reached a queue: every job the history knows is one of the raw ones.
        var all = await stack.Pipeline.History.ListAsync(new JobQuery(Limit: 100), CancellationToken.None);
        Assert.Equal(published.Select(p => p.JobId).Order(), all.Items.Select(r => r.JobId).Order());
    }

    private static JsonArray Stops(int n) => [.. Enumerable.Range(0, n).Select(i => (JsonNode?)JsonValue.Create($"s{i}"))];

    private static JsonObject Metadata(int n)
    {
        var metadata = new JsonObject();
        for (int i = 0; i < n; i++) metadata[$"k{i}"] = "v";
        return metadata;
    }
}
