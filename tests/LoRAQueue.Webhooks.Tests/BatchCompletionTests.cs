using System.Text.Json;

namespace LoRAQueue.Webhooks.Tests;

public sealed class BatchCompletionTests
{
    private const string Tenant = "acme";

    [Fact]
    public async Task A_batch_completes_only_when_every_accepted_job_is_in_the_history_and_terminal()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        var queue = new DeliveryQueue(db.DataSource);
        var (running, unrecorded, empty) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        await Rows.InsertBatchAsync(db.DataSource, running, Tenant, "https://93.184.216.34/b", accepted: 2, rejected: 0);
        await Rows.InsertJobAsync(db.DataSource, Guid.NewGuid(), Tenant, running, "completed");
        await Rows.InsertJobAsync(db.DataSource, Guid.NewGuid(), Tenant, running, "running");
        // Accepted 3, but the gateway has recorded only 2 so far: not complete, even though both are terminal.
        await Rows.InsertBatchAsync(db.DataSource, unrecorded, Tenant, "https://93.184.216.34/b", accepted: 3, rejected: 0);
        await Rows.InsertJobAsync(db.DataSource, Guid.NewGuid(), Tenant, unrecorded, "completed");
        await Rows.InsertJobAsync(db.DataSource, Guid.NewGuid(), Tenant, unrecorded, "failed");
        // Every line rejected: complete at once, without a URL, so no delivery.
        await Rows.InsertBatchAsync(db.DataSource, empty, Tenant, null, accepted: 0, rejected: 4);

        var first = await queue.CompleteBatchesAsync(100, CancellationToken.None);
        var only = Assert.Single(first);
        Assert.Equal((empty, 0, 0, 4), (only.BatchId, only.Completed, only.Failed, only.Rejected));
        Assert.Empty(await queue.CompleteBatchesAsync(100, CancellationToken.None)); // completed once only
        Assert.Equal(0, await Rows.ScalarAsync<long>(db.DataSource, "SELECT count(*) FROM webhook_deliveries"));
        Assert.Equal(1, await Rows.ScalarAsync<long>(db.DataSource, "SELECT count(*) FROM batches WHERE completed_at IS NOT NULL"));
    }

    [Fact]
    public async Task The_watchers_of_two_processes_send_one_batch_completed_with_the_counts()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        string secret = WebhookSignature.NewSecret();
        await Rows.InsertTenantAsync(db.DataSource, Tenant, secret);
        await using var receiver = await WebhookReceiver.StartNewAsync();
        var batchId = Guid.NewGuid();
        Guid[] jobs = [Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid()];
        await Rows.InsertBatchAsync(db.DataSource, batchId, Tenant, receiver.Url, accepted: 4, rejected: 2);
        foreach (var job in jobs) await Rows.InsertJobAsync(db.DataSource, job, Tenant, batchId, "queued");
        await using var one = await WebhookHost.StartAsync(db.DataSource, WebhookHost.TestSettings());
        await using var two = await WebhookHost.StartAsync(db.DataSource, WebhookHost.TestSettings());

        // The recorder moves jobs to terminal states one by one, as it would.
        await Rows.InsertJobAsync(db.DataSource, jobs[0], Tenant, batchId, "completed");
        await Rows.InsertJobAsync(db.DataSource, jobs[1], Tenant, batchId, "failed");
        await Rows.InsertJobAsync(db.DataSource, jobs[2], Tenant, batchId, "completed");
        Assert.Equal(0, await Rows.ScalarAsync<long>(db.DataSource, "SELECT count(*) FROM webhook_deliveries"));
        await Rows.InsertJobAsync(db.DataSource, jobs[3], Tenant, batchId, "completed");

        await Eventually.UntilAsync(() => Task.FromResult(!receiver.Requests.IsEmpty), "batch.completed posted");
        var delivery = Assert.Single(await one.Store.ListAsync(Tenant, null, batchId, null, 10, CancellationToken.None));
        await Eventually.UntilAsync(async () => (await one.Store.GetAsync(Tenant, delivery.Id, CancellationToken.None))!.Value.Delivery.Status
                                                == DeliveryStatus.Delivered, "delivery recorded as delivered");

        var request = Assert.Single(receiver.Requests);
        Assert.True(IndependentVerifier.Verifies(secret, request.Id!, request.Timestamp!, request.Body, request.Signature!));
        using var json = JsonDocument.Parse(request.Body);
        Assert.Equal("batch.completed", json.RootElement.GetProperty("type").GetString());
        var data = json.RootElement.GetProperty("data");
        Assert.Equal(batchId, data.GetProperty("batch_id").GetGuid());
        Assert.Equal(3, data.GetProperty("counts").GetProperty("completed").GetInt32());
        Assert.Equal(1, data.GetProperty("counts").GetProperty("failed").GetInt32());
        Assert.Equal(4, data.GetProperty("accepted").GetInt32());
        Assert.Equal(2, data.GetProperty("rejected").GetInt32());
        var completedAt = await Rows.ScalarAsync<DateTime>(db.DataSource, "SELECT completed_at FROM batches WHERE batch_id = @batchId", new { batchId });
        Assert.Equal(new DateTimeOffset(completedAt, TimeSpan.Zero), data.GetProperty("completed_at").GetDateTimeOffset());
        Assert.Equal((WebhookEventTypes.BatchCompleted, (Guid?)null), (delivery.EventType, delivery.JobId));
    }
}
