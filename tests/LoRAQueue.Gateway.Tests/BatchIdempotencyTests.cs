using System.Net;
using System.Text;
using System.Text.Json;
using Dapper;
using LoRAQueue.Contracts;
using LoRAQueue.Gateway.Batches;
using LoRAQueue.Gateway.Jobs;
using LoRAQueue.History;
using LoRAQueue.Messaging;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace LoRAQueue.Gateway.Tests;

/// <summary>POST /v1/batches with an Idempotency-Key: a replay, a resumed submission, a reused key, a key in use.</summary>
[Collection(GatewayCollection.Name)]
public sealed class BatchIdempotencyTests(GatewayFixture fixture)
{
    private GatewayServer Server => fixture.Server;

    [Fact]
    public async Task A_retry_of_a_finished_batch_gets_the_same_answer_and_sends_nothing()
    {
        var tenant = await Server.CreateTenantAsync();
        var lines = Lines(5).Append("""{"custom_id": "bad", "prompt": "p", "max_tokens": 0}""").ToList();

        var first = await PostBatch(tenant, "batch-key-1", lines);
        string firstText = await first.Content.ReadAsStringAsync();
        var answer = await first.AssertStatus(HttpStatusCode.Accepted);
        Assert.False(first.Headers.Contains(IdempotencyKeys.ReplayedHeader));
        Guid batchId = answer.GetProperty("batch_id").GetGuid();
        Assert.Equal((6, 5, 1), Counts(answer));

        var again = await PostBatch(tenant, "batch-key-1", lines);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        Assert.Equal("true", again.Headers.GetValues(IdempotencyKeys.ReplayedHeader).Single());
        Assert.Equal($"/v1/batches/{batchId}", again.Headers.Location?.OriginalString);
        Assert.Equal(firstText, await again.Content.ReadAsStringAsync());

        var queued = await SettledQueueAsync(tenant);
        Assert.Equal(Enumerable.Range(1, 5).Select(i => BatchJobIds.Of(batchId, $"c{i}")).Order(), queued.Select(j => j.JobId).Order());
        await using var connection = await Server.Database.DataSource.OpenConnectionAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM batches WHERE tenant = @T", new { T = tenant.Id }));
        Assert.NotNull(await connection.ExecuteScalarAsync<DateTime?>("SELECT sealed_at FROM batches WHERE batch_id = @B", new { B = batchId }));
    }

    [Fact]
    public async Task A_sealed_batch_is_answered_from_its_record_even_where_lines_were_not_queued()
    {
        var tenant = await Server.CreateTenantAsync();
        var lines = Lines(2).ToList();
        // A first submission that finished with c2 refused by the broker: the retry gets that answer, c2 is not sent.
        Guid batchId = Guid.NewGuid();
        var batches = Server.App.Services.GetRequiredService<BatchStore>();
        var claim = new BatchStore.KeyClaim("sealed-key", BatchRequestHash.Of(Body(lines), null, null));
        Assert.True(await batches.CreateAsync(batchId, tenant.Id, null, totalLines: 2, accepted: 2, rejected: 0, null, claim, CancellationToken.None));
        await Server.History.RecordQueuedAsync(new SubmitJob
        {
            JobId = BatchJobIds.Of(batchId, "c1"), Tenant = tenant.Id, Prompt = "question 1", MaxTokens = 2, BatchId = batchId, CustomId = "c1",
            SubmittedAt = DateTimeOffset.UtcNow,
        }, null, CancellationToken.None);
        string stored = JsonSerializer.Serialize(new BatchAccepted(batchId, 2, 1, 1,
            [new LineError(2, "c2", "queue_unavailable", "the job could not be queued")]), GatewayJson.Response);
        await batches.SealAsync(batchId, accepted: 1, rejected: 1, stored, CancellationToken.None);

        var response = await PostBatch(tenant, "sealed-key", lines);
        await response.AssertStatus(HttpStatusCode.Accepted);
        Assert.Equal("true", response.Headers.GetValues(IdempotencyKeys.ReplayedHeader).Single());
        Assert.Equal(stored, await response.Content.ReadAsStringAsync());
        Assert.Empty(await SettledQueueAsync(tenant));
    }

    [Fact]
    public async Task A_retry_of_an_interrupted_batch_sends_exactly_the_lines_not_yet_queued_with_the_same_ids()
    {
        var tenant = await Server.CreateTenantAsync();
        var lines = Lines(6).Append("""{"custom_id": "bad", "prompt": "p", "max_tokens": 0}""").ToList();
        var metadata = new Dictionary<string, string> { ["run"] = "7" };
        // The state a gateway SIGKILLed mid-request leaves: the batch created with its key claimed, c1 and c2 sent and
        // recorded, nothing sealed (c3 may have been sent without being recorded: it is sent again under the same id).
        Guid batchId = Guid.NewGuid();
        var batches = Server.App.Services.GetRequiredService<BatchStore>();
        var claim = new BatchStore.KeyClaim("resume-key", BatchRequestHash.Of(Body(lines), null, metadata));
        Assert.True(await batches.CreateAsync(batchId, tenant.Id, null, totalLines: 7, accepted: 6, rejected: 1, metadata, claim, CancellationToken.None));
        foreach (string customId in new[] { "c1", "c2" })
            await Server.History.RecordQueuedAsync(new SubmitJob
            {
                JobId = BatchJobIds.Of(batchId, customId), Tenant = tenant.Id, Prompt = "sent before the crash", MaxTokens = 2,
                BatchId = batchId, CustomId = customId, SubmittedAt = DateTimeOffset.UtcNow,
            }, null, CancellationToken.None);

        var response = await PostBatch(tenant, "resume-key", lines, "?metadata.run=7");
        var answer = await response.AssertStatus(HttpStatusCode.Accepted);
        Assert.Equal("true", response.Headers.GetValues(IdempotencyKeys.ReplayedHeader).Single());
        Assert.Equal(batchId, answer.GetProperty("batch_id").GetGuid());
        Assert.Equal((7, 6, 1), Counts(answer));
        Assert.Equal([(7, "bad")], answer.GetProperty("errors").EnumerateArray()
            .Select(e => (e.GetProperty("line").GetInt32(), e.GetProperty("custom_id").GetString())));

        var queued = await SettledQueueAsync(tenant);
        Assert.Equal(new[] { "c3", "c4", "c5", "c6" }.Select(c => BatchJobIds.Of(batchId, c)).Order(), queued.Select(j => j.JobId).Order());
        Assert.All(queued, j => Assert.Equal((batchId, "7"), (j.BatchId!.Value, j.Metadata!["run"])));
        Assert.All(queued, j => Assert.Equal(BatchJobIds.Of(batchId, j.CustomId!), j.JobId));

        await using var connection = await Server.Database.DataSource.OpenConnectionAsync();
        var row = await connection.QuerySingleAsync<(int Total, int Accepted, int Rejected, DateTime? SealedAt)>(
            "SELECT total_lines, accepted, rejected, sealed_at FROM batches WHERE batch_id = @B", new { B = batchId });
        Assert.Equal((7, 6, 1), (row.Total, row.Accepted, row.Rejected));
        Assert.NotNull(row.SealedAt);
        Assert.Equal(6, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM jobs WHERE batch_id = @B", new { B = batchId }));
        var view = await (await tenant.Http.GetAsync($"/v1/batches/{batchId}")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(6, view.GetProperty("counts").GetProperty("queued").GetInt32());

        // Sealed now: the next retry is answered from the record, and sends nothing.
        var replay = await PostBatch(tenant, "resume-key", lines, "?metadata.run=7");
        Assert.Equal(JsonSerializer.Serialize(answer), JsonSerializer.Serialize(await replay.AssertStatus(HttpStatusCode.Accepted)));
        Assert.Equal(queued.Select(j => j.JobId).Order(), (await SettledQueueAsync(tenant)).Select(j => j.JobId).Order());
    }

    [Fact]
    public async Task A_gateway_that_stops_mid_send_leaves_a_batch_that_the_retry_completes_under_the_same_ids()
    {
        var declarer = new ScriptedDeclarer();
        await using var server = await GatewayServer.StartAsync(services: s => s.AddSingleton<IRankQueueDeclarer>(declarer));
        var tenant = await server.CreateTenantAsync();
        var lines = Lines(100).ToList();

        // The first request stops after about 20 sends, before recording any (the record follows every send), as a
        // SIGKILLed gateway would: its batch stays unsealed and its key claimed.
        declarer.BeforeSend = ScriptedDeclarer.StopAfter(20);
        var crashed = await PostBatch(tenant, "stops", lines);
        Assert.NotEqual(HttpStatusCode.Accepted, crashed.StatusCode);
        declarer.BeforeSend = null;
        var sentBeforeStop = (await SettledQueueAsync(server, tenant)).Select(j => j.JobId).ToHashSet();
        Assert.InRange(sentBeforeStop.Count, 20, 99);
        await using var connection = await server.Database.DataSource.OpenConnectionAsync();
        Guid batchId = await connection.ExecuteScalarAsync<Guid>("SELECT batch_id FROM batches WHERE tenant = @T AND sealed_at IS NULL",
                                                                 new { T = tenant.Id });
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM jobs WHERE batch_id = @B", new { B = batchId }));

        var retry = await PostBatch(tenant, "stops", lines);
        var answer = await retry.AssertStatus(HttpStatusCode.Accepted);
        Assert.Equal((batchId, (100, 100, 0)), (answer.GetProperty("batch_id").GetGuid(), Counts(answer)));
        Assert.Equal("true", retry.Headers.GetValues(IdempotencyKeys.ReplayedHeader).Single());

        // None was recorded, so every line is sent: those sent before the stop go a second time under the same id.
        var queued = await SettledQueueAsync(server, tenant);
        var expected = Enumerable.Range(1, 100).Select(i => BatchJobIds.Of(batchId, $"c{i}")).ToHashSet();
        Assert.Equal(expected.Order(), queued.Select(j => j.JobId).Distinct().Order());
        Assert.All(queued.GroupBy(j => j.JobId), g => Assert.Equal(sentBeforeStop.Contains(g.Key) ? 2 : 1, g.Count()));
        Assert.Equal(100, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM jobs WHERE batch_id = @B", new { B = batchId }));
        Assert.NotNull(await connection.ExecuteScalarAsync<DateTime?>("SELECT sealed_at FROM batches WHERE batch_id = @B", new { B = batchId }));
    }

    [Fact]
    public async Task The_key_with_another_body_query_or_for_a_job_is_422_and_sends_nothing()
    {
        var tenant = await Server.CreateTenantAsync();
        var lines = Lines(2).ToList();
        await (await PostBatch(tenant, "used", lines, "?metadata.run=1")).AssertStatus(HttpStatusCode.Accepted);

        string detail = await (await PostBatch(tenant, "used", Lines(3), "?metadata.run=1")).AssertProblem((HttpStatusCode)422, "idempotency_key_reused");
        Assert.Contains("Idempotency-Key 'used' was already used with a different request body or query", detail);
        await (await PostBatch(tenant, "used", lines, "?metadata.run=2")).AssertProblem((HttpStatusCode)422, "idempotency_key_reused");
        await (await PostBatch(tenant, "used", lines)).AssertProblem((HttpStatusCode)422, "idempotency_key_reused");

        var job = new HttpRequestMessage(HttpMethod.Post, "/v1/jobs") { Content = Http.Json(new { prompt = "p", max_tokens = 1 }) };
        job.Headers.Add(IdempotencyKeys.Header, "used");
        Assert.Contains("already used with a batch", await (await tenant.Http.SendAsync(job)).AssertProblem((HttpStatusCode)422, "idempotency_key_reused"));
        var jobKey = new HttpRequestMessage(HttpMethod.Post, "/v1/jobs") { Content = Http.Json(new { prompt = "p", max_tokens = 1 }) };
        jobKey.Headers.Add(IdempotencyKeys.Header, "a-job-key");
        await (await tenant.Http.SendAsync(jobKey)).AssertStatus(HttpStatusCode.Accepted);
        Assert.Contains("already used with a job", await (await PostBatch(tenant, "a-job-key", lines)).AssertProblem((HttpStatusCode)422, "idempotency_key_reused"));

        Assert.Equal(3, (await SettledQueueAsync(tenant)).Count); // the batch's 2 jobs and the keyed job
    }

    [Fact]
    public async Task A_key_another_request_holds_is_409_with_retry_after_and_sends_nothing()
    {
        var tenant = await Server.CreateTenantAsync();
        var lines = Lines(3).ToList();
        await using (var held = await IdempotencyLock.TryAcquireAsync(Server.Database.DataSource, tenant.Id, "busy", CancellationToken.None))
        {
            Assert.NotNull(held);
            var refused = await PostBatch(tenant, "busy", lines);
            Assert.Contains("is still being processed", await refused.AssertProblem(HttpStatusCode.Conflict, "idempotency_key_in_progress"));
            Assert.Equal(TimeSpan.FromSeconds(1), refused.Headers.RetryAfter?.Delta);
            Assert.Empty(await SettledQueueAsync(tenant));
            // Another tenant's key of the same name is another lock.
            var other = await Server.CreateTenantAsync();
            await (await PostBatch(other, "busy", lines)).AssertStatus(HttpStatusCode.Accepted);
        }
        await (await PostBatch(tenant, "busy", lines)).AssertStatus(HttpStatusCode.Accepted);
        Assert.Equal(3, (await SettledQueueAsync(tenant)).Count);
    }

    [Fact]
    public async Task Concurrent_requests_with_one_key_make_one_batch_and_one_set_of_sends()
    {
        var tenant = await Server.CreateTenantAsync();
        var lines = Lines(300).ToList();
        var responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => PostBatch(tenant, "together", lines)));

        var batchIds = new HashSet<Guid>();
        foreach (var response in responses)
        {
            if (response.StatusCode == HttpStatusCode.Conflict) await response.AssertProblem(HttpStatusCode.Conflict, "idempotency_key_in_progress");
            else batchIds.Add((await response.AssertStatus(HttpStatusCode.Accepted)).GetProperty("batch_id").GetGuid());
        }
        Guid batchId = Assert.Single(batchIds);
        var queued = await SettledQueueAsync(tenant);
        Assert.Equal(300, queued.Count);
        Assert.Equal(Enumerable.Range(1, 300).Select(i => BatchJobIds.Of(batchId, $"c{i}")).Order(), queued.Select(j => j.JobId).Order());
    }

    [Fact]
    public async Task Without_a_key_the_same_body_makes_a_new_batch_each_time()
    {
        var tenant = await Server.CreateTenantAsync();
        var lines = Lines(2).ToList();
        var first = await (await tenant.Http.PostAsync("/v1/batches", Http.Jsonl(lines))).AssertStatus(HttpStatusCode.Accepted);
        var second = await tenant.Http.PostAsync("/v1/batches", Http.Jsonl(lines));
        Assert.False(second.Headers.Contains(IdempotencyKeys.ReplayedHeader));
        Assert.NotEqual(first.GetProperty("batch_id").GetGuid(), (await second.AssertStatus(HttpStatusCode.Accepted)).GetProperty("batch_id").GetGuid());
        Assert.Equal(4, (await SettledQueueAsync(tenant)).Count);
    }

    [Fact]
    public async Task A_batch_whose_sends_take_longer_than_the_send_timeout_in_all_is_queued_whole()
    {
        // 200 sends of 60 ms each, 8 at a time: 1.5 s in all against a 1-s timeout that each single send keeps well within.
        var slow = new ScriptedDeclarer { BeforeSend = ct => Task.Delay(60, ct) };
        await using var server = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["LoRAQueue:Gateway:SendTimeoutSeconds"] = "1" },
                                                                s => s.AddSingleton<IRankQueueDeclarer>(slow));
        var tenant = await server.CreateTenantAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var answer = await (await PostBatch(tenant, "slow", Lines(200))).AssertStatus(HttpStatusCode.Accepted);
        Assert.True(clock.Elapsed > TimeSpan.FromSeconds(1), $"the sends took {clock.Elapsed.TotalSeconds:0.00} s: not longer than the timeout");
        Assert.Equal((200, 200, 0), Counts(answer));
        Assert.Equal(200, (await SettledQueueAsync(server, tenant)).Count);
    }

    private static IEnumerable<string> Lines(int count) =>
        Enumerable.Range(1, count).Select(i => JsonSerializer.Serialize(new { custom_id = $"c{i}", prompt = $"question {i}", max_tokens = 2 }));

    /// <summary>The bytes <see cref="Http.Jsonl"/> sends.</summary>
    private static byte[] Body(IEnumerable<string> lines) => Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n");

    private static Task<HttpResponseMessage> PostBatch(TenantClient tenant, string key, IEnumerable<string> lines, string query = "")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/batches" + query) { Content = Http.Jsonl(lines) };
        request.Headers.Add(IdempotencyKeys.Header, key);
        return tenant.Http.SendAsync(request);
    }

    private static (int Total, int Accepted, int Rejected) Counts(JsonElement answer) =>
        (answer.GetProperty("total_lines").GetInt32(), answer.GetProperty("accepted").GetInt32(), answer.GetProperty("rejected").GetInt32());

    /// <summary>The tenant's queued jobs once everything sent so far has arrived: a marker job goes to the same queue
    /// (queues deliver in order) and is left out of the answer.</summary>
    private Task<List<SubmitJob>> SettledQueueAsync(TenantClient tenant) => SettledQueueAsync(Server, tenant);

    private static async Task<List<SubmitJob>> SettledQueueAsync(GatewayServer server, TenantClient tenant)
    {
        Guid marker = await tenant.Http.SubmitJob(new { prompt = "marker", max_tokens = 1 });
        await Eventually.WaitAsync(() => Task.FromResult(server.QueuedFor(tenant.Id)), q => q.Any(j => j.JobId == marker), "the marker job");
        return server.QueuedFor(tenant.Id).Where(j => j.Prompt != "marker").ToList();
    }
}
