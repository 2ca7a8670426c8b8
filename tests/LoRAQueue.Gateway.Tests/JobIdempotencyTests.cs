using System.Net;
using System.Security.Cryptography;
using System.Text;
using LoRAQueue.Gateway.Jobs;
using LoRAQueue.Messaging;
using Microsoft.Extensions.DependencyInjection;

namespace LoRAQueue.Gateway.Tests;

/// <summary>POST /v1/jobs with an Idempotency-Key whose first request died between claiming the key and sending its job.</summary>
[Collection(GatewayCollection.Name)]
public sealed class JobIdempotencyTests(GatewayFixture fixture)
{
    private GatewayServer Server => fixture.Server;

    [Fact]
    public async Task A_key_claimed_by_a_request_that_never_sent_its_job_sends_it_on_the_retry_under_the_claimed_id()
    {
        var tenant = await Server.CreateTenantAsync();
        const string body = """{"prompt": "lost once", "max_tokens": 3, "custom_id": "k-1"}""";
        Guid claimedId = Guid.NewGuid();
        var idempotency = Server.App.Services.GetRequiredService<IdempotencyStore>();
        Assert.Null(await idempotency.TryClaimAsync(tenant.Id, "claimed", SHA256.HashData(Encoding.UTF8.GetBytes(body)), claimedId, CancellationToken.None));

        var retry = await Post(tenant, "claimed", body);
        var answer = await retry.AssertStatus(HttpStatusCode.Accepted);
        Assert.Equal("true", retry.Headers.GetValues(IdempotencyKeys.ReplayedHeader).Single());
        Assert.Equal((claimedId, "queued", "k-1"), (answer.GetProperty("id").GetGuid(), answer.GetProperty("status").GetString(),
                                                    answer.GetProperty("custom_id").GetString()));
        var queued = await Eventually.WaitAsync(() => Task.FromResult(Server.QueuedFor(tenant.Id)), q => q.Count == 1, "the re-sent job");
        Assert.Equal((claimedId, "lost once", 3), (queued[0].JobId, queued[0].Prompt, queued[0].MaxTokens));
        Assert.NotNull(await Server.History.GetAsync(claimedId, CancellationToken.None));

        // Recorded now: a further retry replays it and sends nothing.
        Assert.Equal(claimedId, (await (await Post(tenant, "claimed", body)).AssertStatus(HttpStatusCode.Accepted)).GetProperty("id").GetGuid());
        Guid marker = await tenant.Http.SubmitJob(new { prompt = "marker", max_tokens = 1 });
        await Eventually.WaitAsync(() => Task.FromResult(Server.QueuedFor(tenant.Id)), q => q.Any(j => j.JobId == marker), "the marker");
        Assert.Equal([claimedId, marker], Server.QueuedFor(tenant.Id).Select(j => j.JobId));
    }

    [Fact]
    public async Task A_claimed_key_whose_request_is_still_running_is_409_not_a_second_send()
    {
        var tenant = await Server.CreateTenantAsync();
        const string body = """{"prompt": "in flight", "max_tokens": 1}""";
        var idempotency = Server.App.Services.GetRequiredService<IdempotencyStore>();
        Assert.Null(await idempotency.TryClaimAsync(tenant.Id, "in-flight", SHA256.HashData(Encoding.UTF8.GetBytes(body)), Guid.NewGuid(),
                                                    CancellationToken.None));
        await using (await IdempotencyLock.TryAcquireAsync(Server.Database.DataSource, tenant.Id, "in-flight", CancellationToken.None))
        {
            var response = await Post(tenant, "in-flight", body);
            await response.AssertProblem(HttpStatusCode.Conflict, "idempotency_key_in_progress");
            Assert.Equal(TimeSpan.FromSeconds(1), response.Headers.RetryAfter?.Delta);
        }
        await Server.AssertNothingQueuedAsync(tenant);
    }

    [Fact]
    public async Task A_keyed_job_the_broker_did_not_take_keeps_its_key_and_the_retry_sends_it_under_the_same_id()
    {
        var declarer = new ScriptedDeclarer { BeforeSend = _ => throw new TimeoutException("the broker did not confirm") };
        await using var server = await GatewayServer.StartAsync(services: s => s.AddSingleton<IRankQueueDeclarer>(declarer));
        var tenant = await server.CreateTenantAsync();
        const string body = """{"prompt": "unconfirmed", "max_tokens": 2}""";

        // 503: the broker did not confirm. It may still hold the message, so the key stays with the job's id.
        await (await Post(tenant, "unconfirmed", body)).AssertProblem(HttpStatusCode.ServiceUnavailable, "queue_unavailable");
        var entry = await server.App.Services.GetRequiredService<IdempotencyStore>().FindAsync(tenant.Id, "unconfirmed", CancellationToken.None);
        Guid claimed = Assert.IsType<Guid>(entry?.JobId);

        declarer.BeforeSend = null;
        var retry = await Post(tenant, "unconfirmed", body);
        Assert.Equal(claimed, (await retry.AssertStatus(HttpStatusCode.Accepted)).GetProperty("id").GetGuid());
        Assert.Equal("true", retry.Headers.GetValues(IdempotencyKeys.ReplayedHeader).Single());
        var queued = await Eventually.WaitAsync(() => Task.FromResult(server.QueuedFor(tenant.Id)), q => q.Count == 1, "the retried job");
        Assert.Equal(claimed, queued.Single().JobId);
        Assert.NotNull(await server.History.GetAsync(claimed, CancellationToken.None));
    }

    [Fact]
    public async Task Keyed_requests_beyond_the_database_pool_all_succeed_because_their_locks_have_a_pool_of_their_own()
    {
        // The work's pool holds 3 connections; 12 keyed requests at once each hold a lock for their whole length. On one
        // shared pool they took every connection and waited for another until the pool's timeout (503s).
        await using var server = await GatewayServer.StartAsync(services: s => s.AddSingleton(sp => Npgsql.NpgsqlDataSource.Create(
            new Npgsql.NpgsqlConnectionStringBuilder(sp.GetRequiredService<GatewaySettings>().PostgresConnectionString) { MaxPoolSize = 3, Timeout = 3 }.ConnectionString)));
        var tenant = await server.CreateTenantAsync();
        var answers = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Post(tenant, $"busy-{i}", $$"""{"prompt": "busy {{i}}", "max_tokens": 1}""")));
        foreach (var answer in answers) await answer.AssertStatus(HttpStatusCode.Accepted);
        await Eventually.WaitAsync(() => Task.FromResult(server.QueuedFor(tenant.Id)), q => q.Count == 12, "the twelve jobs");
    }

    private static Task<HttpResponseMessage> Post(TenantClient tenant, string key, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/jobs") { Content = Http.Json(body) };
        request.Headers.Add(IdempotencyKeys.Header, key);
        return tenant.Http.SendAsync(request);
    }
}
