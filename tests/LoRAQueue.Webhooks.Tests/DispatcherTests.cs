using System.Text.Json;
using LoRAQueue.Contracts;

namespace LoRAQueue.Webhooks.Tests;

/// <summary>The dispatcher against the real Postgres and a real HTTP receiver on loopback; one fresh database per test.</summary>
public sealed class DispatcherTests
{
    private const string Tenant = "acme";

    internal static JobCompleted Completed(string url, Guid? batchId = null) => new()
    {
        JobId = Guid.NewGuid(), Tenant = Tenant, AdapterId = "r32", Worker = "w1", OutputText = "bonjour", PromptTokens = 5,
        OutputTokens = 7, FinishReason = "eos", Timings = new JobTimings(12, 1, 30, 4.5, 80), WebhookUrl = url, BatchId = batchId,
        CustomId = "line-1", SubmittedAt = DateTimeOffset.UtcNow.AddSeconds(-1), CompletedAt = DateTimeOffset.UtcNow,
    };

    private static async Task<WebhookDelivery> EnqueueAsync(TestDatabase db, JobCompleted e, string tenant = Tenant)
    {
        Assert.True(await new DeliveryQueue(db.DataSource).EnqueueAsync(tenant, WebhookEventTypes.JobCompleted, e.JobId, e.BatchId,
                                                                        e.WebhookUrl!, WebhookBodies.Job(e), CancellationToken.None));
        var store = new WebhookDeliveryStore(db.DataSource);
        return Assert.Single(await store.ListAsync(tenant, e.JobId, null, null, 10, CancellationToken.None));
    }

    private static async Task<(WebhookDelivery Delivery, IReadOnlyList<WebhookAttempt> Attempts)> WaitForAsync(
        WebhookDeliveryStore store, Guid id, Func<WebhookDelivery, IReadOnlyList<WebhookAttempt>, bool> condition, string what,
        string tenant = Tenant)
    {
        (WebhookDelivery, IReadOnlyList<WebhookAttempt>)? latest = null;
        await Eventually.UntilAsync(async () =>
        {
            latest = await store.GetAsync(tenant, id, CancellationToken.None);
            return latest is { } l && condition(l.Item1, l.Item2);
        }, what);
        return latest!.Value;
    }

    [Fact]
    public async Task Delivers_the_job_result_signed_with_both_secrets_while_rotating()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        string current = WebhookSignature.NewSecret(), previous = WebhookSignature.NewSecret();
        await Rows.InsertTenantAsync(db.DataSource, Tenant, current, previous);
        await using var receiver = await WebhookReceiver.StartNewAsync();
        await using var host = await WebhookHost.StartAsync(db.DataSource, WebhookHost.TestSettings());
        var e = Completed(receiver.Url);
        var delivery = await EnqueueAsync(db, e);

        var (done, attempts) = await WaitForAsync(host.Store, delivery.Id, (d, _) => d.Status == DeliveryStatus.Delivered, "delivered");

        var request = Assert.Single(receiver.Requests);
        Assert.Equal("/hooks/lora", request.Path);
        Assert.Equal(delivery.Id.ToString(), request.Id);
        Assert.StartsWith("application/json", request.ContentType);
        Assert.InRange(long.Parse(request.Timestamp!), DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        Assert.Equal(2, request.Signature!.Split(' ').Length);
        Assert.True(IndependentVerifier.Verifies(current, request.Id!, request.Timestamp!, request.Body, request.Signature));
        Assert.True(IndependentVerifier.Verifies(previous, request.Id!, request.Timestamp!, request.Body, request.Signature));

        using var json = JsonDocument.Parse(request.Body);
        var root = json.RootElement;
        Assert.Equal("job.completed", root.GetProperty("type").GetString());
        var data = root.GetProperty("data");
        Assert.Equal(e.JobId, data.GetProperty("job_id").GetGuid());
        Assert.Equal("line-1", data.GetProperty("custom_id").GetString());
        Assert.Equal("completed", data.GetProperty("status").GetString());
        Assert.Equal("bonjour", data.GetProperty("output_text").GetString());
        Assert.Equal(7, data.GetProperty("output_tokens").GetInt32());
        Assert.Equal(JsonValueKind.Null, data.GetProperty("error").ValueKind);
        Assert.Equal(4.5, data.GetProperty("timings").GetProperty("tpot_ms").GetDouble());

        Assert.Equal(1, done.AttemptCount);
        Assert.NotNull(done.DeliveredAt);
        Assert.Null(done.NextAttemptAt);
        var attempt = Assert.Single(attempts);
        Assert.Equal((1, 200, (string?)null), (attempt.Number, attempt.StatusCode, attempt.Error));
        Assert.True(attempt.LatencyMs > 0);
    }

    [Fact]
    public async Task A_receiver_that_is_down_then_up_gets_the_delivery_after_retries_and_every_attempt_is_recorded()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        string secret = WebhookSignature.NewSecret();
        await Rows.InsertTenantAsync(db.DataSource, Tenant, secret);
        await using var receiver = WebhookReceiver.Reserve(); // not listening yet: connections are refused
        await using var host = await WebhookHost.StartAsync(db.DataSource, WebhookHost.TestSettings(retries: 20));
        var delivery = await EnqueueAsync(db, Completed(receiver.Url));

        await WaitForAsync(host.Store, delivery.Id, (d, _) => d.AttemptCount >= 2, "two failed attempts");
        await receiver.StartAsync();
        var (done, attempts) = await WaitForAsync(host.Store, delivery.Id, (d, _) => d.Status == DeliveryStatus.Delivered, "delivered");

        Assert.True(attempts.Count >= 3);
        Assert.Equal(done.AttemptCount, attempts.Count);
        Assert.Equal(Enumerable.Range(1, attempts.Count), attempts.Select(a => a.Number));
        foreach (var failed in attempts.SkipLast(1))
        {
            Assert.Null(failed.StatusCode);
            Assert.Contains("refused", failed.Error, StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal(200, attempts[^1].StatusCode);
        Assert.Null(attempts[^1].Error);
        // The 200 ms schedule is respected (less a little for Postgres and .NET clock granularity).
        foreach (var (before, after) in attempts.Zip(attempts.Skip(1)))
            Assert.True(after.At - before.At >= TimeSpan.FromMilliseconds(180), $"attempts {before.Number} and {after.Number} too close");
        var request = Assert.Single(receiver.Requests);
        Assert.True(IndependentVerifier.Verifies(secret, request.Id!, request.Timestamp!, request.Body, request.Signature!));
    }

    [Fact]
    public async Task After_the_last_attempt_the_delivery_is_dead_and_a_replay_delivers_it()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        await Rows.InsertTenantAsync(db.DataSource, Tenant, WebhookSignature.NewSecret());
        await using var receiver = await WebhookReceiver.StartNewAsync();
        receiver.StatusCode = 503;
        await using var host = await WebhookHost.StartAsync(db.DataSource, WebhookHost.TestSettings(retries: 2));
        var delivery = await EnqueueAsync(db, Completed(receiver.Url));

        var (dead, attempts) = await WaitForAsync(host.Store, delivery.Id, (d, _) => d.Status == DeliveryStatus.Dead, "dead");
        Assert.Equal(3, dead.AttemptCount); // the first attempt and one per schedule step
        Assert.Null(dead.NextAttemptAt);
        Assert.All(attempts, a => Assert.Equal((503, "HTTP 503: receiver says no"), (a.StatusCode, a.Error)));
        Assert.Equal(3, receiver.Requests.Count);
        Assert.Contains(dead, await host.Store.ListAsync(Tenant, null, null, DeliveryStatus.Dead, 10, CancellationToken.None));

        Assert.False(await host.Store.ReplayAsync("other-tenant", delivery.Id, CancellationToken.None));
        Assert.False(await host.Store.ReplayAsync(Tenant, Guid.NewGuid(), CancellationToken.None));
        receiver.StatusCode = 204;
        Assert.True(await host.Store.ReplayAsync(Tenant, delivery.Id, CancellationToken.None));
        var (replayed, all) = await WaitForAsync(host.Store, delivery.Id, (d, _) => d.Status == DeliveryStatus.Delivered, "delivered on replay");

        Assert.Equal(4, replayed.AttemptCount);
        Assert.Equal([1, 2, 3, 4], all.Select(a => a.Number));
        Assert.Equal(204, all[^1].StatusCode);
        Assert.All(receiver.Requests, r => Assert.Equal(delivery.Id.ToString(), r.Id)); // one webhook-id across retries and replay
        Assert.Single(receiver.Requests.Select(r => r.Body).Distinct());
    }

    [Fact]
    public async Task A_tenant_without_a_secret_gets_a_dead_delivery_with_a_clear_error_and_nothing_is_sent()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        await using var receiver = await WebhookReceiver.StartNewAsync();
        await using var host = await WebhookHost.StartAsync(db.DataSource, WebhookHost.TestSettings());
        var delivery = await EnqueueAsync(db, Completed(receiver.Url), tenant: "ghost");

        var (dead, attempts) = await WaitForAsync(host.Store, delivery.Id, (d, _) => d.Status == DeliveryStatus.Dead, "dead", "ghost");
        var attempt = Assert.Single(attempts);
        Assert.Null(attempt.StatusCode);
        Assert.Contains("tenant 'ghost' has no webhook secret", attempt.Error);
        Assert.Empty(receiver.Requests);
        Assert.Null(await host.Store.GetAsync(Tenant, dead.Id, CancellationToken.None)); // other tenants cannot see it
    }

    [Fact]
    public async Task The_connect_time_check_refuses_a_private_address_that_passed_validation()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        await Rows.InsertTenantAsync(db.DataSource, Tenant, WebhookSignature.NewSecret());
        await using var receiver = await WebhookReceiver.StartNewAsync();
        // Validation allowed loopback (as a DNS answer that later changed would have looked public); sending does not.
        var lenient = new WebhookUrlValidator(new WebhookOptions { AllowedNetworks = ["127.0.0.0/8"] });
        Assert.Null(await lenient.ValidateAsync(receiver.Url, CancellationToken.None));
        await using var host = await WebhookHost.StartAsync(db.DataSource, WebhookHost.TestSettings(retries: 1, allowLoopback: false));
        var delivery = await EnqueueAsync(db, Completed(receiver.Url));

        var (_, attempts) = await WaitForAsync(host.Store, delivery.Id, (d, _) => d.Status == DeliveryStatus.Dead, "dead");
        Assert.Equal(2, attempts.Count);
        Assert.All(attempts, a => Assert.Contains("refused to connect to 127.0.0.1: 127.0.0.1 is a loopback address", a.Error));
        Assert.Empty(receiver.Requests);
    }

    [Fact]
    public async Task A_url_that_a_raw_producer_sent_unchecked_is_dead_with_the_reason()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        await Rows.InsertTenantAsync(db.DataSource, Tenant, WebhookSignature.NewSecret());
        await using var host = await WebhookHost.StartAsync(db.DataSource, WebhookHost.TestSettings());
        var delivery = await EnqueueAsync(db, Completed("ftp://93.184.216.34/drop"));

        var (_, attempts) = await WaitForAsync(host.Store, delivery.Id, (d, _) => d.Status == DeliveryStatus.Dead, "dead");
        Assert.Contains("scheme 'ftp' is not allowed", Assert.Single(attempts).Error);
    }

    [Fact]
    public async Task Redirects_are_recorded_as_failures_and_not_followed()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        await Rows.InsertTenantAsync(db.DataSource, Tenant, WebhookSignature.NewSecret());
        await using var receiver = await WebhookReceiver.StartNewAsync();
        receiver.StatusCode = 307;
        await using var host = await WebhookHost.StartAsync(db.DataSource, WebhookHost.TestSettings(retries: 0));
        var delivery = await EnqueueAsync(db, Completed(receiver.Url));

        var (_, attempts) = await WaitForAsync(host.Store, delivery.Id, (d, _) => d.Status == DeliveryStatus.Dead, "dead");
        var attempt = Assert.Single(attempts);
        Assert.Equal(307, attempt.StatusCode);
        Assert.Contains("redirects are not followed", attempt.Error);
        Assert.Single(receiver.Requests);
    }

    [Fact]
    public async Task Two_dispatchers_send_each_delivery_once()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        await Rows.InsertTenantAsync(db.DataSource, Tenant, WebhookSignature.NewSecret());
        await using var receiver = await WebhookReceiver.StartNewAsync();
        var queue = new DeliveryQueue(db.DataSource);
        var events = Enumerable.Range(0, 40).Select(_ => DispatcherTests.Completed(receiver.Url)).ToList();
        foreach (var e in events)
            await queue.EnqueueAsync(Tenant, WebhookEventTypes.JobCompleted, e.JobId, null, e.WebhookUrl!, WebhookBodies.Job(e), CancellationToken.None);

        await using (var one = await WebhookHost.StartAsync(db.DataSource, WebhookHost.TestSettings()))
        await using (var two = await WebhookHost.StartAsync(db.DataSource, WebhookHost.TestSettings()))
            await Eventually.UntilAsync(async () => await Rows.ScalarAsync<long>(db.DataSource,
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'") == events.Count, "all delivered");

        Assert.Equal(events.Count, receiver.Requests.Count);
        Assert.Equal(events.Count, receiver.Requests.Select(r => r.Id).Distinct().Count());
        Assert.Equal(events.Count, await Rows.ScalarAsync<long>(db.DataSource, "SELECT count(*) FROM webhook_attempts"));
    }
}
