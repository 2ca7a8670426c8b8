using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAQueue.History;
using Xunit.Abstractions;

namespace LoRAQueue.Integration.Tests;

/// <summary>Postgres and RabbitMQ stopped and started under the whole product (`loraqueue serve gateway scheduler worker`).</summary>
[Collection(FaultCollection.Name)]
public sealed class OutageTests(ModelFiles files, FaultableServers servers, ITestOutputHelper output)
{
    /// <summary>Longer than the retries a consumer used to make before it gave a message up (about 16 s).</summary>
    private static readonly TimeSpan OutageLength = TimeSpan.FromSeconds(25);

    [Fact]
    public async Task Jobs_that_finish_while_postgres_is_down_reach_the_history_and_their_receiver_exactly_once_when_it_is_back()
    {
        await using var stack = await GatewayStack.StartAsync(files, servers: servers.Environment);
        await using var receiver = await WebhookReceiver.StartNewAsync();
        var prompts = new Dictionary<Guid, string>();

        await servers.DownAsync("postgres");
        try
        {
            // A raw AMQP producer needs no database: its jobs run, and their events reach the recorders, while Postgres is down.
            for (int i = 0; i < 12; i++)
            {
                var id = Guid.NewGuid();
                prompts[id] = $"Outage job {i}";
                await stack.Pipeline.PublishRawAsync("lora-base", JsonSerializer.Serialize(
                    new { jobId = id, tenant = Pipeline.Tenant, prompt = prompts[id], maxTokens = 6, webhookUrl = receiver.Url }));
            }
            await Task.Delay(OutageLength);
        }
        finally
        {
            await servers.UpAsync("postgres");
            stack.Pipeline.DataSource.Clear(); // the test's own pooled connections died with the server
        }

        // Each row ends as its last event left it, with the prompt its JobStarted carried (whichever event was recorded first).
        var rows = await Eventually.WaitAsync(
            async () => (await stack.Pipeline.History.ListAsync(new JobQuery(Tenant: Pipeline.Tenant), CancellationToken.None)).Items,
            rs => rs.Count == prompts.Count && rs.All(r => r.Status == JobStatus.Completed && r.Prompt is not null),
            "every job completed with its prompt", TimeSpan.FromSeconds(90), stack.Pipeline.WorkerOutput);
        Assert.All(rows, r => Assert.Equal(prompts[r.JobId], r.Prompt));
        await Eventually.WaitAsync(() => Task.FromResult(receiver.Requests.Count), n => n >= prompts.Count,
            $"{prompts.Count} webhooks", TimeSpan.FromSeconds(60), stack.Pipeline.WorkerOutput);
        await Task.Delay(TimeSpan.FromSeconds(2)); // anything sent twice would be here by now
        var perJob = receiver.Requests.GroupBy(r => Guid.Parse((string)JsonNode.Parse(r.Body)!["data"]!["job_id"]!)).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine($"deliveries per job: {string.Join(", ", perJob.Values)}");
        Assert.Equal(prompts.Keys.Order(), perJob.Keys.Order());
        Assert.All(perJob.Values, n => Assert.Equal(1, n));
        Assert.Null(await stack.Pipeline.TakeAsync("job-history_error"));
        Assert.Null(await stack.Pipeline.TakeAsync("webhook-deliveries_error"));
    }

    [Fact]
    public async Task While_postgres_or_rabbitmq_is_down_a_submission_is_refused_promptly_with_503_and_retry_after_and_nothing_is_queued()
    {
        await using var stack = await GatewayStack.StartAsync(files, servers: servers.Environment,
            extra: new Dictionary<string, string> { ["LORAQUEUE__GATEWAY__SENDTIMEOUTSECONDS"] = "3" });

        await servers.DownAsync("postgres");
        try
        {
            await AssertRefusedAsync(stack, "postgres down", TimeSpan.FromSeconds(5));
        }
        finally
        {
            await servers.UpAsync("postgres");
            stack.Pipeline.DataSource.Clear(); // the test's own pooled connections died with the server
        }

        await servers.DownAsync("rabbitmq");
        try
        {
            await AssertRefusedAsync(stack, "rabbitmq down", TimeSpan.FromSeconds(3 + 3));
        }
        finally
        {
            await servers.UpAsync("rabbitmq");
        }

        // Back to normal: the next job is accepted and runs, and it is the only job there is.
        var accepted = await Eventually.WaitAsync(() => stack.PostJsonAsync("v1/jobs", new { adapter = "r8", prompt = "after the outages", max_tokens = 4 }),
            r => r.Status == HttpStatusCode.Accepted, "a submission to be accepted again", TimeSpan.FromSeconds(60), stack.Pipeline.WorkerOutput);
        var id = Guid.Parse((string)accepted.Body["id"]!);
        Assert.Equal("completed", (string?)(await stack.WaitForJobAsync(id))["status"]);
        await Task.Delay(TimeSpan.FromSeconds(3)); // a send cancelled at the timeout must not turn up late
        var jobs = (await stack.Pipeline.History.ListAsync(new JobQuery(Tenant: Pipeline.Tenant), CancellationToken.None)).Items;
        Assert.Equal([id], jobs.Select(j => j.JobId));
    }

    private async Task AssertRefusedAsync(GatewayStack stack, string prompt, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        using var response = await stack.Http.PostAsJsonAsync("v1/jobs", new { adapter = "r8", prompt, max_tokens = 4 });
        var body = await response.Content.ReadAsStringAsync();
        output.WriteLine($"{prompt}: {(int)response.StatusCode} in {clock.Elapsed.TotalSeconds:F1} s, Retry-After {response.Headers.RetryAfter}: {body}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("queue_unavailable", (string?)JsonNode.Parse(body)!["code"]);
        Assert.NotNull(response.Headers.RetryAfter?.Delta);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, within);
    }
}
