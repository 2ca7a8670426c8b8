using System.Net;
using System.Net.Http.Json;
using LoRAQueue.Contracts;

namespace LoRAQueue.Gateway.Tests;

/// <summary>A tenant never sees, queries or uses another tenant's jobs, batches, adapters or webhook deliveries: 404, not 403.</summary>
[Collection(GatewayCollection.Name)]
public sealed class TenantIsolationTests(GatewayFixture fixture)
{
    private GatewayServer Server => fixture.Server;

    [Fact]
    public async Task Another_tenants_job_batch_and_adapter_are_404_and_never_listed()
    {
        var a = await Server.CreateTenantAsync();
        var b = await Server.CreateTenantAsync();
        string adapter = await a.Http.RegisterAdapter(Server.CreateAdapter(8));
        Guid job = await a.Http.SubmitJob(new { prompt = "a's job", max_tokens = 1, adapter });
        var batch = await (await a.Http.PostAsync("/v1/batches", Http.Jsonl("""{"custom_id": "x", "prompt": "p"}"""))).AssertStatus(HttpStatusCode.Accepted);
        Guid batchId = batch.GetProperty("batch_id").GetGuid();

        Assert.Equal($"job {job} was not found", await (await b.Http.GetAsync($"/v1/jobs/{job}")).AssertProblem(HttpStatusCode.NotFound, "not_found"));
        await (await b.Http.GetAsync($"/v1/batches/{batchId}")).AssertProblem(HttpStatusCode.NotFound, "not_found");
        await (await b.Http.GetAsync($"/v1/batches/{batchId}/results")).AssertProblem(HttpStatusCode.NotFound, "not_found");
        await (await b.Http.GetAsync($"/v1/adapters/{adapter}")).AssertProblem(HttpStatusCode.NotFound, "not_found");

        Assert.Empty((await (await b.Http.GetAsync("/v1/jobs")).AssertStatus(HttpStatusCode.OK)).GetProperty("data").EnumerateArray());
        Assert.Empty((await (await b.Http.GetAsync($"/v1/jobs?batch={batchId}")).AssertStatus(HttpStatusCode.OK)).GetProperty("data").EnumerateArray());
        Assert.Empty((await (await b.Http.GetAsync("/v1/adapters")).AssertStatus(HttpStatusCode.OK)).GetProperty("data").EnumerateArray());

        // The owner sees all three.
        await (await a.Http.GetAsync($"/v1/jobs/{job}")).AssertStatus(HttpStatusCode.OK);
        await (await a.Http.GetAsync($"/v1/batches/{batchId}")).AssertStatus(HttpStatusCode.OK);
        var adapters = await (await a.Http.GetAsync("/v1/adapters")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal([adapter], adapters.GetProperty("data").EnumerateArray().Select(x => x.GetProperty("id").GetString()));
        var view = await (await a.Http.GetAsync($"/v1/adapters/{adapter}")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(("lora-rank-8", 8), (view.GetProperty("queue").GetString(), view.GetProperty("rank_bucket").GetInt32()));
    }

    [Fact]
    public async Task A_tenant_can_neither_submit_to_nor_take_over_another_tenants_adapter()
    {
        var a = await Server.CreateTenantAsync();
        var b = await Server.CreateTenantAsync();
        string adapter = await a.Http.RegisterAdapter(Server.CreateAdapter(8));

        await (await b.Http.PostJob(new { prompt = "p", adapter })).AssertProblem((HttpStatusCode)422, "unknown_adapter");
        await (await b.Http.PostAsync("/v1/batches", Http.Jsonl($$"""{"custom_id": "x", "prompt": "p", "adapter": "{{adapter}}"}""")))
            .AssertProblem((HttpStatusCode)422, "no_valid_lines");
        string detail = await (await b.Http.PostAsJsonAsync("/v1/adapters", new { id = adapter })).AssertProblem(HttpStatusCode.Conflict, "conflict");
        Assert.DoesNotContain(a.Id, detail);
        Assert.Empty(Server.QueuedFor(b.Id));
        var owner = await (await a.Http.GetAsync($"/v1/adapters/{adapter}")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(adapter, owner.GetProperty("id").GetString());
    }

    [Fact]
    public async Task Another_tenants_webhook_deliveries_are_404_and_cannot_be_replayed()
    {
        var a = await Server.CreateTenantAsync();
        var b = await Server.CreateTenantAsync();
        Guid job = await a.Http.SubmitJob(new { prompt = "p", max_tokens = 1, webhook_url = "http://127.0.0.1:9/hook" });
        await Server.Bus.Publish(new JobCompleted
        {
            JobId = job, Tenant = a.Id, OutputText = "done", FinishReason = "eos", WebhookUrl = "http://127.0.0.1:9/hook",
            SubmittedAt = DateTimeOffset.UtcNow, CompletedAt = DateTimeOffset.UtcNow,
        });
        var list = await Eventually.WaitAsync(
            async () => await (await a.Http.GetAsync($"/v1/webhooks/deliveries?job_id={job}")).AssertStatus(HttpStatusCode.OK),
            l => l.GetProperty("data").GetArrayLength() == 1, "the delivery of a's job");
        var delivery = list.GetProperty("data")[0];
        Guid id = delivery.GetProperty("id").GetGuid();
        Assert.Equal("job.completed", delivery.GetProperty("event_type").GetString());

        await (await b.Http.GetAsync($"/v1/webhooks/deliveries/{id}")).AssertProblem(HttpStatusCode.NotFound, "not_found");
        await (await b.Http.PostAsync($"/v1/webhooks/deliveries/{id}/replay", null)).AssertProblem(HttpStatusCode.NotFound, "not_found");
        Assert.Equal(0, (await (await b.Http.GetAsync($"/v1/webhooks/deliveries?job_id={job}")).AssertStatus(HttpStatusCode.OK)).GetProperty("data").GetArrayLength());

        var detail = await (await a.Http.GetAsync($"/v1/webhooks/deliveries/{id}")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(id, detail.GetProperty("delivery").GetProperty("id").GetGuid());
        Assert.Equal(System.Text.Json.JsonValueKind.Array, detail.GetProperty("attempts").ValueKind);
        var replayed = await (await a.Http.PostAsync($"/v1/webhooks/deliveries/{id}/replay", null)).AssertStatus(HttpStatusCode.Accepted);
        Assert.Equal("pending", replayed.GetProperty("delivery").GetProperty("status").GetString());
        await (await a.Http.GetAsync("/v1/webhooks/deliveries?status=sent")).AssertProblem(HttpStatusCode.BadRequest, "invalid_query");
    }
}
