using System.Net;
using System.Text.Json;
using Dapper;
using LoRAQueue.Contracts;
using LoRAQueue.History;

namespace LoRAQueue.Gateway.Tests;

[Collection(GatewayCollection.Name)]
public sealed class JobSubmissionTests(GatewayFixture fixture)
{
    private GatewayServer Server => fixture.Server;

    [Fact]
    public async Task An_accepted_job_is_queued_on_its_rank_queue_and_readable_by_id()
    {
        var tenant = await Server.CreateTenantAsync();
        string adapter = await tenant.Http.RegisterAdapter(Server.CreateAdapter(32));
        var response = await tenant.Http.PostJob(new
        {
            adapter, prompt = "Summarise the ticket", max_tokens = 16, temperature = 0.7, top_p = 0.9, top_k = 40, seed = 7,
            stop = new[] { "\n\n" }, metadata = new Dictionary<string, string> { ["ticket"] = "T-1" }, custom_id = "c-1",
        });
        var accepted = await response.AssertStatus(HttpStatusCode.Accepted);
        Guid id = accepted.GetProperty("id").GetGuid();
        Assert.Equal("lora-rank-32", accepted.GetProperty("queue").GetString());
        Assert.Equal(32, accepted.GetProperty("rank_bucket").GetInt32());
        Assert.Equal($"/v1/jobs/{id}", response.Headers.Location?.OriginalString);

        var queued = await Eventually.WaitAsync(() => Task.FromResult(Server.QueuedFor(tenant.Id)), q => q.Count == 1, "the job on its queue");
        var job = queued[0];
        Assert.Equal((id, adapter, "Summarise the ticket", 16, "c-1"), (job.JobId, job.AdapterId, job.Prompt, job.MaxTokens, job.CustomId));
        Assert.Equal((0.7f, 0.9f, 40, 7UL), (job.Sampling!.Temperature, job.Sampling.TopP, job.Sampling.TopK, job.Sampling.Seed));
        Assert.Equal(["\n\n"], job.Sampling.Stop!);
        Assert.Equal("T-1", job.Metadata!["ticket"]);

        var view = await (await tenant.Http.GetAsync($"/v1/jobs/{id}")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal("queued", view.GetProperty("status").GetString());
        Assert.Equal(adapter, view.GetProperty("adapter").GetString());
        Assert.Equal("c-1", view.GetProperty("custom_id").GetString());
        Assert.Equal("T-1", view.GetProperty("metadata").GetProperty("ticket").GetString());
    }

    [Fact]
    public async Task A_completed_job_shows_its_timings_and_where_its_adapter_came_from()
    {
        var tenant = await Server.CreateTenantAsync();
        string adapter = await tenant.Http.RegisterAdapter(Server.CreateAdapter(8));
        Guid adapted = await tenant.Http.SubmitJob(new { adapter, prompt = "with an adapter", max_tokens = 2 });
        Guid plain = await tenant.Http.SubmitJob(new { prompt = "base model", max_tokens = 2 });
        var queued = await (await tenant.Http.GetAsync($"/v1/jobs/{adapted}")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(JsonValueKind.Null, queued.GetProperty("adapter_load").ValueKind); // not known before it completes

        foreach (var (id, load) in new[] { (adapted, new AdapterLoad("store", 412.5)), (plain, (AdapterLoad?)null) })
            await Server.History.RecordCompletedAsync(new JobCompleted
            {
                JobId = id, Tenant = tenant.Id, AdapterId = load is null ? null : adapter, RankBucket = load is null ? null : 8,
                OutputText = "ok", PromptTokens = 3, OutputTokens = 2, FinishReason = "length",
                Timings = new JobTimings(QueueMs: 20, WaitMs: 1, TtftMs: 30, TpotMs: 4.5, TotalMs: 500), AdapterLoad = load,
                SubmittedAt = DateTimeOffset.UtcNow, CompletedAt = DateTimeOffset.UtcNow,
            }, CancellationToken.None);

        var view = await (await tenant.Http.GetAsync($"/v1/jobs/{adapted}")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal("completed", view.GetProperty("status").GetString());
        Assert.Equal(30, view.GetProperty("timings").GetProperty("ttft_ms").GetDouble());
        var adapterLoad = view.GetProperty("adapter_load");
        Assert.Equal(("store", 412.5), (adapterLoad.GetProperty("source").GetString(), adapterLoad.GetProperty("ms").GetDouble()));

        var listed = await (await tenant.Http.GetAsync("/v1/jobs?status=completed")).AssertStatus(HttpStatusCode.OK);
        var byId = listed.GetProperty("data").EnumerateArray().ToDictionary(j => j.GetProperty("id").GetGuid());
        Assert.Equal("store", byId[adapted].GetProperty("adapter_load").GetProperty("source").GetString());
        Assert.Equal(JsonValueKind.Null, byId[plain].GetProperty("adapter_load").ValueKind); // a base-model job
    }

    [Fact]
    public async Task Without_max_tokens_a_job_gets_the_default_and_goes_to_the_base_queue()
    {
        var tenant = await Server.CreateTenantAsync();
        Guid id = await tenant.Http.SubmitJob(new { prompt = "hello" });
        var queued = await Eventually.WaitAsync(() => Task.FromResult(Server.QueuedFor(tenant.Id)), q => q.Count == 1, "the job");
        Assert.Equal((id, null, 64, null), (queued[0].JobId, queued[0].AdapterId, queued[0].MaxTokens, queued[0].Sampling));
    }

    [Fact]
    public async Task The_same_idempotency_key_and_body_make_one_job()
    {
        var tenant = await Server.CreateTenantAsync();
        const string body = """{"prompt": "only once", "max_tokens": 4}""";
        async Task<HttpResponseMessage> Post(string json)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/jobs") { Content = Http.Json(json) };
            request.Headers.Add("Idempotency-Key", "key-123");
            return await tenant.Http.SendAsync(request);
        }

        var first = await (await Post(body)).AssertStatus(HttpStatusCode.Accepted);
        var again = await Post(body);
        var second = await again.AssertStatus(HttpStatusCode.Accepted);
        Assert.Equal(first.GetProperty("id").GetGuid(), second.GetProperty("id").GetGuid());
        Assert.Equal("true", again.Headers.GetValues("Idempotent-Replayed").Single());

        string detail = await (await Post("""{"prompt": "something else", "max_tokens": 4}""")).AssertProblem((HttpStatusCode)422, "idempotency_key_reused");
        Assert.Contains("Idempotency-Key 'key-123' was already used with a different request body", detail);

        Guid id = first.GetProperty("id").GetGuid();
        await using var connection = await Server.Database.DataSource.OpenConnectionAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM jobs WHERE tenant = @T", new { T = tenant.Id }));
        Guid marker = await tenant.Http.SubmitJob(new { prompt = "marker", max_tokens = 1 });
        await Eventually.WaitAsync(() => Task.FromResult(Server.QueuedFor(tenant.Id)), q => q.Any(j => j.JobId == marker), "the marker");
        Assert.Equal([id, marker], Server.QueuedFor(tenant.Id).Select(j => j.JobId));
    }

    [Fact]
    public async Task A_refused_request_does_not_use_up_its_idempotency_key()
    {
        var tenant = await Server.CreateTenantAsync();
        async Task<HttpResponseMessage> Post(string json)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/jobs") { Content = Http.Json(json) };
            request.Headers.Add("Idempotency-Key", "retry-me");
            return await tenant.Http.SendAsync(request);
        }
        await (await Post("""{"prompt": "x", "max_tokens": 0}""")).AssertProblem(HttpStatusCode.BadRequest, "invalid_max_tokens");
        await (await Post("""{"prompt": "x", "max_tokens": 1}""")).AssertStatus(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task Jobs_list_newest_first_with_filters_and_keyset_pages()
    {
        var tenant = await Server.CreateTenantAsync();
        var other = await Server.CreateTenantAsync();
        string adapter = await tenant.Http.RegisterAdapter(Server.CreateAdapter(8));
        var ids = new List<Guid>();
        for (int i = 0; i < 5; i++) ids.Add(await tenant.Http.SubmitJob(new { prompt = $"job {i}", max_tokens = 1, adapter = i % 2 == 0 ? adapter : null }));
        await other.Http.SubmitJob(new { prompt = "not yours", max_tokens = 1 });

        var seen = new List<Guid>();
        string? after = null;
        do
        {
            var page = await (await tenant.Http.GetAsync("/v1/jobs?limit=2" + (after is null ? "" : $"&after={after}"))).AssertStatus(HttpStatusCode.OK);
            seen.AddRange(page.GetProperty("data").EnumerateArray().Select(j => j.GetProperty("id").GetGuid()));
            after = page.GetProperty("next").GetString();
        } while (after is not null);
        Assert.Equal(Enumerable.Reverse(ids), seen);

        var byAdapter = await (await tenant.Http.GetAsync($"/v1/jobs?adapter={adapter}&status=queued")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal([ids[4], ids[2], ids[0]], byAdapter.GetProperty("data").EnumerateArray().Select(j => j.GetProperty("id").GetGuid()));

        var future = await (await tenant.Http.GetAsync($"/v1/jobs?since={DateTimeOffset.UtcNow.AddHours(1):O}".Replace("+", "%2B"))).AssertStatus(HttpStatusCode.OK);
        Assert.Empty(future.GetProperty("data").EnumerateArray());
    }

    [Theory]
    [InlineData("status=done", "'done' is not a job status")]
    [InlineData("since=yesterday", "'since' must be an ISO 8601 timestamp")]
    [InlineData("batch=42", "'batch' must be an id (a UUID)")]
    [InlineData("limit=0", "'limit' must be a whole number from 1 to 1000")]
    [InlineData("after=not-a-cursor", "is not a job history cursor")]
    public async Task A_bad_query_parameter_is_400_naming_it(string query, string message)
    {
        var tenant = await Server.CreateTenantAsync();
        string detail = await (await tenant.Http.GetAsync($"/v1/jobs?{query}")).AssertProblem(HttpStatusCode.BadRequest, "invalid_query");
        Assert.Contains(message, detail);
    }

    [Fact]
    public async Task An_unknown_job_is_404()
    {
        var tenant = await Server.CreateTenantAsync();
        await (await tenant.Http.GetAsync($"/v1/jobs/{Guid.NewGuid()}")).AssertProblem(HttpStatusCode.NotFound, "not_found");
    }
}
