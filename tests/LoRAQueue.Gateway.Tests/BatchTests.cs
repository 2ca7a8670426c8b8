using System.Net;
using System.Text;
using System.Text.Json;
using Dapper;
using LoRAQueue.Contracts;
using LoRAQueue.History.Tenants;

namespace LoRAQueue.Gateway.Tests;

[Collection(GatewayCollection.Name)]
public sealed class BatchTests(GatewayFixture fixture)
{
    private GatewayServer Server => fixture.Server;

    [Fact]
    public async Task A_batch_of_100_lines_with_3_invalid_queues_97_and_reports_the_3_by_line()
    {
        var tenant = await Server.CreateTenantAsync();
        string adapter = await tenant.Http.RegisterAdapter(Server.CreateAdapter(16));
        var lines = Enumerable.Range(1, 100)
            .Select(i => JsonSerializer.Serialize(new { custom_id = $"c{i}", prompt = $"question {i}", max_tokens = 2, adapter = i % 3 == 0 ? adapter : null }))
            .ToList();
        lines[9] = """{"custom_id": "c10", "prompt": "x", "adapter": "not-registered"}""";
        lines[49] = """{"custom_id": "c50", "prompt": "broken""";
        lines[89] = """{"custom_id": "c90", "max_tokens": 1}""";

        var response = await tenant.Http.PostAsync("/v1/batches?metadata.team=nlp", Http.Jsonl(lines));
        var accepted = await response.AssertStatus(HttpStatusCode.Accepted);
        Guid batchId = accepted.GetProperty("batch_id").GetGuid();
        Assert.Equal((100, 97, 3), (accepted.GetProperty("total_lines").GetInt32(), accepted.GetProperty("accepted").GetInt32(),
                                    accepted.GetProperty("rejected").GetInt32()));
        var errors = accepted.GetProperty("errors").EnumerateArray()
            .Select(e => (e.GetProperty("line").GetInt32(), e.GetProperty("custom_id").GetString(), e.GetProperty("code").GetString())).ToList();
        Assert.Equal([(10, "c10", "unknown_adapter"), (50, null, "invalid_json"), (90, "c90", "invalid_request")], errors);

        var queued = await Eventually.WaitAsync(() => Task.FromResult(Server.QueuedFor(tenant.Id)), q => q.Count == 97, "97 queued jobs");
        Assert.All(queued, j => Assert.Equal(batchId, j.BatchId));
        Assert.All(queued, j => Assert.Equal("nlp", j.Metadata!["team"]));
        Assert.Equal(Enumerable.Range(1, 100).Where(i => i is not (10 or 50 or 90)).Select(i => $"c{i}").Order(),
                     queued.Select(j => j.CustomId!).Order());
        Assert.Equal(32, queued.Count(j => j.AdapterId == adapter)); // every third line but line 90

        var batch = await (await tenant.Http.GetAsync($"/v1/batches/{batchId}")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal("in_progress", batch.GetProperty("status").GetString());
        Assert.Equal(97, batch.GetProperty("counts").GetProperty("queued").GetInt32());
        Assert.Equal("nlp", batch.GetProperty("metadata").GetProperty("team").GetString());

        // Two jobs finish (as a worker's events would record them): the counts and results follow.
        var done = queued.Single(j => j.CustomId == "c1");
        var failed = queued.Single(j => j.CustomId == "c2");
        await Server.History.RecordCompletedAsync(new JobCompleted
        {
            JobId = done.JobId, Tenant = tenant.Id, OutputText = "answer one", PromptTokens = 3, OutputTokens = 2, FinishReason = "length",
            SubmittedAt = done.SubmittedAt, CompletedAt = DateTimeOffset.UtcNow, BatchId = batchId, CustomId = "c1",
        }, CancellationToken.None);
        await Server.History.RecordFailedAsync(new JobFailed
        {
            JobId = failed.JobId, Tenant = tenant.Id, ReasonCode = "engine_error", Message = "boom", SubmittedAt = failed.SubmittedAt,
            FailedAt = DateTimeOffset.UtcNow, BatchId = batchId, CustomId = "c2",
        }, CancellationToken.None);

        var counts = (await (await tenant.Http.GetAsync($"/v1/batches/{batchId}")).AssertStatus(HttpStatusCode.OK)).GetProperty("counts");
        Assert.Equal((95, 0, 1, 1), (counts.GetProperty("queued").GetInt32(), counts.GetProperty("running").GetInt32(),
                                     counts.GetProperty("completed").GetInt32(), counts.GetProperty("failed").GetInt32()));

        var results = await tenant.Http.GetAsync($"/v1/batches/{batchId}/results");
        Assert.Equal("application/jsonl", results.Content.Headers.ContentType?.MediaType);
        var resultLines = (await results.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement).ToDictionary(r => r.GetProperty("custom_id").GetString()!);
        Assert.Equal(97, resultLines.Count);
        Assert.Equal(done.JobId, resultLines["c1"].GetProperty("job_id").GetGuid());
        Assert.Equal("completed", resultLines["c1"].GetProperty("status").GetString());
        Assert.Equal("answer one", resultLines["c1"].GetProperty("output").GetProperty("text").GetString());
        Assert.Equal(JsonValueKind.Null, resultLines["c1"].GetProperty("error").ValueKind);
        Assert.Equal("failed", resultLines["c2"].GetProperty("status").GetString());
        Assert.Equal("boom", resultLines["c2"].GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("queued", resultLines["c3"].GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, resultLines["c3"].GetProperty("output").ValueKind);

        var byBatch = await (await tenant.Http.GetAsync($"/v1/jobs?batch={batchId}&limit=1000")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(97, byBatch.GetProperty("data").GetArrayLength());

        await using var connection = await Server.Database.DataSource.OpenConnectionAsync();
        var row = await connection.QuerySingleAsync<(int Total, int Accepted, int Rejected)>(
            "SELECT total_lines, accepted, rejected FROM batches WHERE batch_id = @Id", new { Id = batchId });
        Assert.Equal((100, 97, 3), row);
    }

    [Fact]
    public async Task Lines_may_use_the_openai_envelope_and_blank_lines_keep_the_numbering()
    {
        var tenant = await Server.CreateTenantAsync();
        string[] lines =
        [
            """{"custom_id": "a", "method": "POST", "url": "/v1/jobs", "body": {"prompt": "one", "max_tokens": 1}}""",
            "",
            """{"custom_id": "a", "prompt": "duplicate id"}""",
            """{"custom_id": "b", "method": "GET", "body": {"prompt": "two"}}""",
            """{"prompt": "no id"}""",
        ];
        var accepted = await (await tenant.Http.PostAsync("/v1/batches", Http.Jsonl(lines))).AssertStatus(HttpStatusCode.Accepted);
        Assert.Equal((4, 1, 3), (accepted.GetProperty("total_lines").GetInt32(), accepted.GetProperty("accepted").GetInt32(),
                                 accepted.GetProperty("rejected").GetInt32()));
        var errors = accepted.GetProperty("errors").EnumerateArray().Select(e => (e.GetProperty("line").GetInt32(), e.GetProperty("message").GetString())).ToList();
        Assert.Equal((3, "custom_id 'a' is already used on line 1"), errors[0]);
        Assert.Equal((4, "method must be POST (got 'GET')"), errors[1]);
        Assert.Equal((5, "custom_id is required on every batch line"), errors[2]);
    }

    [Fact]
    public async Task A_batch_with_no_valid_line_is_422_and_creates_nothing()
    {
        var tenant = await Server.CreateTenantAsync();
        var response = await tenant.Http.PostAsync("/v1/batches", Http.Jsonl(["""{"custom_id": "x", "prompt": ""}""", "not json"]));
        await response.AssertProblem((HttpStatusCode)422, "no_valid_lines");
        Assert.Equal(2, (await response.JsonOf()).GetProperty("errors").GetArrayLength());
        await AssertNoBatchAsync(tenant.Id);
    }

    [Fact]
    public async Task A_batch_over_the_tenants_line_limit_is_413()
    {
        var tenant = await Server.CreateTenantAsync(new TenantLimits(MaxBatchLines: 5));
        var lines = Enumerable.Range(1, 6).Select(i => $$"""{"custom_id": "c{{i}}", "prompt": "p"}""");
        string detail = await (await tenant.Http.PostAsync("/v1/batches", Http.Jsonl(lines))).AssertProblem(HttpStatusCode.RequestEntityTooLarge, "too_many_lines");
        Assert.Equal("the batch has 6 job lines; this tenant's limit is 5", detail);
        await AssertNoBatchAsync(tenant.Id);
    }

    [Fact]
    public async Task A_refused_batch_webhook_refuses_the_whole_batch()
    {
        var tenant = await Server.CreateTenantAsync();
        var response = await tenant.Http.PostAsync("/v1/batches?webhook_url=http%3A%2F%2F10.0.0.1%2Fhook", Http.Jsonl(["""{"custom_id": "a", "prompt": "p"}"""]));
        Assert.StartsWith("webhook_url (the batch's) is refused:", await response.AssertProblem((HttpStatusCode)422, "webhook_url_refused"));
        await AssertNoBatchAsync(tenant.Id);
    }

    [Fact]
    public async Task An_empty_batch_is_400()
    {
        var tenant = await Server.CreateTenantAsync();
        string detail = await (await tenant.Http.PostAsync("/v1/batches", Http.Jsonl(["", "  "]))).AssertProblem(HttpStatusCode.BadRequest, "invalid_request");
        Assert.Contains("no job lines", detail);
    }

    private async Task AssertNoBatchAsync(string tenant)
    {
        await using var connection = await Server.Database.DataSource.OpenConnectionAsync();
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM batches WHERE tenant = @T", new { T = tenant }));
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM jobs WHERE tenant = @T", new { T = tenant }));
    }
}
