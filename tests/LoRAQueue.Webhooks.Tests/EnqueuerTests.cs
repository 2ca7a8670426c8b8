using System.Text.Json;
using LoRAQueue.Contracts;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace LoRAQueue.Webhooks.Tests;

/// <summary>The consumer on MassTransit's in-memory transport, with the dispatcher running: event in, signed POST out.</summary>
public sealed class EnqueuerTests
{
    private const string Tenant = "acme";

    private static async Task<(WebhookHost Host, ITestHarness Harness)> StartAsync(TestDatabase db)
    {
        var host = await WebhookHost.StartAsync(db.DataSource, WebhookHost.TestSettings(), services =>
            services.AddMassTransitTestHarness(x =>
            {
                x.DisableUsageTelemetry();
                x.AddWebhookEnqueuer();
            }));
        var harness = host.Services.GetRequiredService<ITestHarness>();
        await harness.Start();
        return (host, harness);
    }

    private static async Task PublishAndWaitAsync<T>(ITestHarness harness, T message, int consumedBefore) where T : class
    {
        await harness.Bus.Publish(message);
        var consumer = harness.GetConsumerHarness<WebhookEnqueuer>();
        await Eventually.UntilAsync(() => Task.FromResult(consumer.Consumed.Select<T>().Count() > consumedBefore), $"{typeof(T).Name} consumed");
        Assert.False(await harness.Published.Any<Fault<T>>(), "the consumer faulted");
    }

    [Fact]
    public async Task A_failed_job_is_posted_with_its_error()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        string secret = WebhookSignature.NewSecret();
        await Rows.InsertTenantAsync(db.DataSource, Tenant, secret);
        await using var receiver = await WebhookReceiver.StartNewAsync();
        var (host, harness) = await StartAsync(db);
        await using var _ = host;
        var failed = new JobFailed
        {
            JobId = Guid.NewGuid(), Tenant = Tenant, AdapterId = "r8", ReasonCode = FailureReasons.PromptTooLong,
            Message = "prompt has 9000 tokens; the model takes 4096", SubmittedAt = DateTimeOffset.UtcNow.AddSeconds(-2),
            FailedAt = DateTimeOffset.UtcNow, WebhookUrl = receiver.Url, BatchId = Guid.NewGuid(), CustomId = "req-7",
        };

        await PublishAndWaitAsync(harness, failed, 0);
        await Eventually.UntilAsync(() => Task.FromResult(!receiver.Requests.IsEmpty), "the receiver got the POST");

        var request = Assert.Single(receiver.Requests);
        Assert.True(IndependentVerifier.Verifies(secret, request.Id!, request.Timestamp!, request.Body, request.Signature!));
        using var json = JsonDocument.Parse(request.Body);
        Assert.Equal("job.failed", json.RootElement.GetProperty("type").GetString());
        var data = json.RootElement.GetProperty("data");
        Assert.Equal("failed", data.GetProperty("status").GetString());
        Assert.Equal(failed.BatchId, data.GetProperty("batch_id").GetGuid());
        Assert.Equal("req-7", data.GetProperty("custom_id").GetString());
        Assert.Equal("prompt_too_long", data.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(failed.Message, data.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(JsonValueKind.Null, data.GetProperty("output_text").ValueKind);
        Assert.Equal(failed.FailedAt, data.GetProperty("completed_at").GetDateTimeOffset());

        var delivery = Assert.Single(await host.Store.ListAsync(Tenant, failed.JobId, null, null, 10, CancellationToken.None));
        Assert.Equal((WebhookEventTypes.JobFailed, failed.BatchId), (delivery.EventType, delivery.BatchId));
        // A job of a batch is listed under the batch too.
        Assert.Single(await host.Store.ListAsync(Tenant, null, failed.BatchId, null, 10, CancellationToken.None));
    }

    [Fact]
    public async Task A_redelivered_event_makes_no_second_delivery()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        await Rows.InsertTenantAsync(db.DataSource, Tenant, WebhookSignature.NewSecret());
        await using var receiver = await WebhookReceiver.StartNewAsync();
        var (host, harness) = await StartAsync(db);
        await using var _ = host;
        var completed = DispatcherTests.Completed(receiver.Url);

        await PublishAndWaitAsync(harness, completed, 0);
        await Eventually.UntilAsync(async () => (await host.Store.ListAsync(Tenant, completed.JobId, null, DeliveryStatus.Delivered, 10,
                                                                             CancellationToken.None)).Count == 1, "delivered");
        await PublishAndWaitAsync(harness, completed, 1); // the broker redelivers the same event

        Assert.Equal(1, await Rows.ScalarAsync<long>(db.DataSource, "SELECT count(*) FROM webhook_deliveries WHERE job_id = @id",
                                                     new { id = completed.JobId }));
        var delivery = Assert.Single(await host.Store.ListAsync(Tenant, completed.JobId, null, null, 10, CancellationToken.None));
        Assert.Equal((DeliveryStatus.Delivered, 1), (delivery.Status, delivery.AttemptCount));
        Assert.Single(receiver.Requests);
    }

    [Fact]
    public async Task An_event_without_a_webhook_url_makes_no_delivery()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        var (host, harness) = await StartAsync(db);
        await using var _ = host;

        await PublishAndWaitAsync(harness, DispatcherTests.Completed(url: null!), 0);

        Assert.Equal(0, await Rows.ScalarAsync<long>(db.DataSource, "SELECT count(*) FROM webhook_deliveries"));
    }

    [Fact]
    public async Task Listing_rejects_an_out_of_range_limit()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        var store = new WebhookDeliveryStore(db.DataSource);
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ListAsync(Tenant, null, null, null, 0, CancellationToken.None));
        Assert.Contains("between 1 and 1000", error.Message);
    }
}
