using Dapper;

namespace LoRAQueue.Webhooks.Tests;

/// <summary>Receivers that close the connection after each response (HTTP/1.0 without keep-alive): a request that
/// .NET sends on the pooled connection they are closing must not cost the delivery a retry-schedule step.</summary>
public sealed class ConnectionReuseTests
{
    private const string Tenant = "acme";

    private static async Task<DispatcherRun> DeliverAsync(Http10Receiver receiver, int count, int retries, int concurrency = 1)
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
        // 1: one after another, each on the connection the last one left; more: a connection opened for one send may carry another.
        settings["LoRAQueue:Webhooks:MaxConcurrentDeliveries"] = concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using (var host = await WebhookHost.StartAsync(db.DataSource, settings))
            await Eventually.UntilAsync(async () => await Rows.ScalarAsync<long>(db.DataSource,
                "SELECT count(*) FROM webhook_deliveries WHERE status <> 'pending'") == count, "every delivery settled");
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var errors = (await connection.QueryAsync<string>("SELECT error FROM webhook_attempts WHERE error IS NOT NULL ORDER BY attempted_at")).ToList();
        return new DispatcherRun(await Rows.ScalarAsync<long>(db.DataSource, "SELECT count(*) FROM webhook_attempts"), errors);
    }

    private sealed record DispatcherRun(long Attempts, List<string> Errors);

    [Theory]
    [InlineData(1, 100)]
    [InlineData(8, 100)] // the dispatcher's default concurrency
    [InlineData(8, 0)]   // closed at once after the answer
    public async Task Every_first_attempt_succeeds_when_the_receiver_closes_each_connection_after_answering(int concurrency, int closeDelayMs)
    {
        await using var receiver = new Http10Receiver(closeDelay: TimeSpan.FromMilliseconds(closeDelayMs));

        var run = await DeliverAsync(receiver, count: 40, retries: 3, concurrency);

        Assert.True(run.Errors.Count == 0, $"{run.Errors.Count} of {run.Attempts} attempts failed; first: {run.Errors.FirstOrDefault()}");
        Assert.Equal(40, run.Attempts);
        Assert.Equal(40, receiver.Ids.Distinct().Count());
    }

    [Fact]
    public async Task A_receiver_that_closes_without_an_answer_gets_one_resend_per_attempt_and_the_attempt_fails()
    {
        await using var receiver = new Http10Receiver(closeDelay: TimeSpan.Zero, answer: false);

        var run = await DeliverAsync(receiver, count: 1, retries: 1);

        Assert.Equal(2, run.Attempts);
        Assert.All(run.Errors, e => Assert.Contains("response ended prematurely", e));
        Assert.Equal(4, receiver.Connections); // each attempt: the send and one resend on a new connection, no more
    }
}
