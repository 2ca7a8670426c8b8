using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using LoRAQueue.History;
using Xunit.Abstractions;

namespace LoRAQueue.Integration.Tests;

/// <summary>Producers over HTTP to results over signed webhooks, through `loraqueue serve` on the real servers.</summary>
[Collection(PipelineCollection.Name)]
public sealed class GatewayEndToEndTests(ModelFiles files, ITestOutputHelper output)
{
    [Fact]
    public async Task A_job_submitted_over_http_completes_and_its_receiver_gets_exactly_one_verifiable_delivery()
    {
        await using var stack = await GatewayStack.StartAsync(files);
        await using var receiver = await WebhookReceiver.StartNewAsync();

        var (status, accepted) = await stack.PostJsonAsync("v1/jobs", new
        {
            adapter = "r8", prompt = "Summarise the ticket", max_tokens = 8, webhook_url = receiver.Url, custom_id = "T-1",
        });
        Assert.Equal(HttpStatusCode.Accepted, status);
        var id = Guid.Parse((string)accepted["id"]!);
        var job = await stack.WaitForJobAsync(id);
        Assert.Equal("completed", (string?)job["status"]);

        var delivered = await Eventually.WaitAsync(() => stack.DeliveriesAsync($"job_id={id}"),
            ds => ds.Count == 1 && (string?)ds[0]!["status"] == "delivered", "the job's delivery to be delivered", TimeSpan.FromSeconds(30));
        Assert.Equal(1, (int)delivered[0]!["attempt_count"]!);
        var request = Assert.Single(receiver.Requests);
        Assert.Equal((string?)delivered[0]!["id"], request.Id);
        Assert.True(IndependentVerifier.Verifies(stack.Tenant.WebhookSecret, request.Id!, request.Timestamp!, request.Body, request.Signature!),
            $"signature {request.Signature} does not verify over {request.Id}.{request.Timestamp}.{request.Body}");
        Assert.InRange(long.Parse(request.Timestamp!) - DateTimeOffset.UtcNow.ToUnixTimeSeconds(), -60, 5);

        var body = JsonNode.Parse(request.Body)!;
        Assert.Equal("job.completed", (string?)body["type"]);
        Assert.Equal(id.ToString(), (string?)body["data"]!["job_id"]);
        Assert.Equal("T-1", (string?)body["data"]!["custom_id"]);
        Assert.Equal((string?)job["output_text"], (string?)body["data"]!["output_text"]);

        // The history (Postgres, read directly) shows the same job, and nothing more arrives.
        var record = await stack.Pipeline.History.GetAsync(id, CancellationToken.None);
        Assert.Equal(JobStatus.Completed, record!.Status);
        Assert.Equal("T-1", record.CustomId);
        Assert.Single(receiver.Requests);
    }

    [Fact]
    public async Task A_batch_of_100_lines_with_3_invalid_accepts_97_reports_the_3_by_line_and_completes()
    {
        await using var stack = await GatewayStack.StartAsync(files);
        await using var receiver = await WebhookReceiver.StartNewAsync();
        var lines = new StringBuilder();
        for (int line = 1; line <= 100; line++)
        {
            lines.AppendLine(line switch
            {
                10 => """{"custom_id": "c10", "adapter": "no-such-adapter", "prompt": "x", "max_tokens": 4}""",
                50 => """{"custom_id": "c50", "adapter": "r8", "prompt": "unterminated""",
                90 => """{"custom_id": "c90", "adapter": "r32", "prompt": "x", "max_tokens": 0}""",
                _ => $$"""{"custom_id": "c{{line}}", "adapter": "{{(line % 3) switch { 0 => "r8", 1 => "r32", _ => "r128" }}}", "prompt": "Line {{line}} of the batch", "max_tokens": 6}""",
            });
        }
        using var response = await stack.Http.PostAsync($"v1/batches?webhook_url={Uri.EscapeDataString(receiver.Url)}",
            new StringContent(lines.ToString(), Encoding.UTF8, "application/jsonl"));
        var accepted = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        output.WriteLine(accepted.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(97, (int)accepted["accepted"]!);
        Assert.Equal(3, (int)accepted["rejected"]!);
        var errors = accepted["errors"]!.AsArray();
        Assert.Equal([10, 50, 90], errors.Select(e => (int)e!["line"]!));
        Assert.Equal(["unknown_adapter", "invalid_json", "invalid_max_tokens"], errors.Select(e => (string?)e!["code"]));
        var batchId = (string)accepted["batch_id"]!;

        var batch = await Eventually.WaitAsync(() => stack.GetAsync($"v1/batches/{batchId}"), b => (string?)b["status"] == "completed",
            "the batch to complete", TimeSpan.FromSeconds(120), stack.Pipeline.WorkerOutput);
        Assert.Equal(97, (int)batch["counts"]!["completed"]!);

        using var results = await stack.Http.GetAsync($"v1/batches/{batchId}/results");
        var resultLines = (await results.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(97, resultLines.Count);
        Assert.All(resultLines, r => Assert.Equal("completed", (string?)r["status"]));
        var expected = Enumerable.Range(1, 100).Where(l => l is not (10 or 50 or 90)).Select(l => $"c{l}").Order();
        Assert.Equal(expected, resultLines.Select(r => (string)r["custom_id"]!).Order());

        // One batch.completed with the counts, signed like every delivery.
        var request = await Eventually.WaitAsync(() => Task.FromResult(receiver.Requests.ToList()), rs => rs.Count >= 1,
            "the batch.completed delivery", TimeSpan.FromSeconds(30));
        var body = JsonNode.Parse(Assert.Single(request).Body)!;
        Assert.Equal("batch.completed", (string?)body["type"]);
        Assert.Equal(97, (int)body["data"]!["counts"]!["completed"]!);
        Assert.True(IndependentVerifier.Verifies(stack.Tenant.WebhookSecret, request[0].Id!, request[0].Timestamp!, request[0].Body, request[0].Signature!));
    }

    [Fact]
    public async Task A_receiver_that_was_down_gets_the_delivery_on_a_retry_and_a_dead_delivery_is_delivered_by_a_replay()
    {
        await using var stack = await GatewayStack.StartAsync(files, retrySchedule: "1s,1s,1s");
        await using var late = WebhookReceiver.Reserve();      // not listening yet: connections refused
        await using var refusing = await WebhookReceiver.StartNewAsync();
        refusing.StatusCode = 503;

        var first = await SubmitAsync(stack, late.Url);
        var second = await SubmitAsync(stack, refusing.Url);
        await stack.WaitForJobAsync(first);
        await stack.WaitForJobAsync(second);

        // Down: attempts fail and are recorded; then up: a retry delivers.
        await Eventually.WaitAsync(() => stack.DeliveriesAsync($"job_id={first}"), ds => ds.Count == 1 && (int)ds[0]!["attempt_count"]! >= 2,
            "two failed attempts at the receiver that is down", TimeSpan.FromSeconds(30));
        await late.StartAsync();
        var delivered = await Eventually.WaitAsync(() => stack.DeliveriesAsync($"job_id={first}"),
            ds => (string?)ds[0]!["status"] == "delivered", "the delivery after the receiver came up", TimeSpan.FromSeconds(30));
        var detail = await stack.GetAsync($"v1/webhooks/deliveries/{delivered[0]!["id"]}");
        var attempts = detail["attempts"]!.AsArray();
        output.WriteLine(detail.ToJsonString());
        Assert.True(attempts.Count >= 3, $"{attempts.Count} attempts recorded");
        Assert.All(attempts.Take(attempts.Count - 1), a => Assert.NotNull((string?)a!["error"]));
        Assert.Equal(200, (int)attempts[^1]!["status_code"]!);
        Assert.All(attempts, a => Assert.NotNull(a!["at"]));
        Assert.Single(late.Requests);

        // 503 on every attempt: dead after the last; a replay delivers it once the receiver accepts.
        var dead = await Eventually.WaitAsync(() => stack.DeliveriesAsync($"job_id={second}"),
            ds => ds.Count == 1 && (string?)ds[0]!["status"] == "dead", "the refused delivery to be dead", TimeSpan.FromSeconds(30));
        Assert.Equal(4, (int)dead[0]!["attempt_count"]!);
        Assert.Equal(4, refusing.Requests.Count);
        refusing.StatusCode = 200;
        using var replay = await stack.Http.PostAsync($"v1/webhooks/deliveries/{dead[0]!["id"]}/replay", null);
        Assert.True(replay.IsSuccessStatusCode, $"replay answered {(int)replay.StatusCode}");
        await Eventually.WaitAsync(() => stack.DeliveriesAsync($"job_id={second}"), ds => (string?)ds[0]!["status"] == "delivered",
            "the replayed delivery to be delivered", TimeSpan.FromSeconds(30));
        Assert.Equal(5, refusing.Requests.Count);
        Assert.Single(refusing.Requests.Select(r => r.Id).Distinct()); // one webhook-id across retries and the replay
    }

    [Fact]
    public async Task Loraqueue_submit_sends_a_prompt_through_the_gateway_and_waits_for_its_output()
    {
        await using var stack = await GatewayStack.StartAsync(files);
        var submitted = await ChildProcess.RunAsync("dotnet",
            [stack.Pipeline.Env.CliDll, "submit", "--adapter", "r32", "--max-tokens", "6", "--wait", "--json",
             "--gateway", stack.Gateway.ToString(), "Hello from the command line"],
            TimeSpan.FromSeconds(90), new Dictionary<string, string> { ["LORAQUEUE_API_KEY"] = stack.Tenant.ApiKey });
        output.WriteLine(submitted.Stderr);
        Assert.True(submitted.ExitCode == 0, $"exit {submitted.ExitCode}: {submitted.Stderr}");

        var job = JsonNode.Parse(submitted.Stdout)!;
        Assert.Equal("completed", (string?)job["status"]);
        var record = await stack.Pipeline.History.GetAsync(Guid.Parse((string)job["id"]!), CancellationToken.None);
        Assert.Equal(JobStatus.Completed, record!.Status);
        Assert.Equal("r32", record.AdapterId);
        Assert.Equal((string?)job["output_text"], record.OutputText);
    }

    private static async Task<Guid> SubmitAsync(GatewayStack stack, string webhookUrl)
    {
        var (status, accepted) = await stack.PostJsonAsync("v1/jobs", new { adapter = "r8", prompt = "Deliver me", max_tokens = 4, webhook_url = webhookUrl });
        Assert.True(status == HttpStatusCode.Accepted, accepted.ToJsonString());
        return Guid.Parse((string)accepted["id"]!);
    }
}
