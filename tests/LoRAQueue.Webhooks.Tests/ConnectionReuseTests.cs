using Dapper;

namespace LoRAQueue.Webhooks.Tests;

/// <summary>Receivers that close the connection after each response (HTTP/1.0 without keep-alive): a request that
/// .NET sends on the pooled connection they are closing must not cost the delivery a retry-schedule step.</summary>
public sealed class ConnectionReuseTests
{
    private const string Tenant = "acme";

    private static async Task<DispatcherRun> DeliverAsync(Http10Receiver receiver, int count, int retries)
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        await Rows.InsertTenantAsync(db.DataSource, Tenant, WebhookSignature.NewSecret());
        var queue = new DeliveryQueue(db.DataSource);
        for (int i = 0; i < count; i++)
        {
            var e = DispatcherTests.Completed(receiver.Url);
            await queue.EnqueueAsync(Tenant, WebhookEventTypes.JobCompleted, e.JobId, null, e.WebhookUrl!, WebhookBodies.Job(e), CancellationToken.None);
        }
        var settings = WebhookHost.TestSettings(retries);
        settings["LoRAQueue:Webhooks:MaxConcurrentDeliveries"] = "1"; // one after another, each on the connection the last one left
        await using (var host = await WebhookHost.StartAsync(db.DataSource, settings))
            await Eventually.UntilAsync(async () => await Rows.ScalarAsync<long>(db.DataSource,
                "SELECT count(*) FROM webhook_deliveries WHERE status <> 'pending'") == count, "every delivery settled");
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var errors = (await connection.QueryAsync<string>("SELECT error FROM webhook_attempts WHERE error IS NOT NULL ORDER BY attempted_at")).ToList();
        return new DispatcherRun(await Rows.ScalarAsync<long>(db.DataSource, "SELECT count(*) FROM webhook_attempts"), errors);
    }

    private sealed record DispatcherRun(long Attempts, List<string> Errors);

    [Fact]
    public async Task Every_first_attempt_succeeds_when_the_receiver_closes_each_connection_after_answering()
    {
        await using var receiver = new Http10Receiver(closeDelay: TimeSpan.FromMilliseconds(100));

        var run = await DeliverAsync(receiver, count: 40, retries: 3);

        Assert.True(run.Errors.Count == 0, $"{run.Errors.Count} of {run.Attempts} attempts failed; first: {run.Errors.FirstOrDefault()}");
        Assert.Equal(40, run.Attempts);
        Assert.Equal(40, receiver.Ids.Distinct().Count());
    }

    [Fact]
    public async Task A_new_connection_closed_without_an_answer_is_not_tried_again_within_the_attempt()
    {
        await using var receiver = new Http10Receiver(closeDelay: TimeSpan.Zero, answer: false);

        var run = await DeliverAsync(receiver, count: 1, retries: 1);

        Assert.Equal(2, run.Attempts);
        Assert.All(run.Errors, e => Assert.Contains("response ended prematurely", e));
        Assert.Equal(2, receiver.Connections); // one connection per attempt, none extra
    }
}
