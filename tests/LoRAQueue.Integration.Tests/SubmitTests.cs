using System.Text.Json;
using LoRAQueue.Contracts;
using LoRAQueue.History;

namespace LoRAQueue.Integration.Tests;

[Collection(PipelineCollection.Name)]
public sealed class SubmitTests(ModelFiles files)
{
    [Fact]
    public async Task A_job_from_the_dotnet_api_and_one_from_a_plain_amqp_client_both_complete_with_output_and_timings()
    {
        await using var pipeline = await Pipeline.CreateAsync(files);
        await pipeline.StartWorkerAsync("w-all", "base,8,32,128");

        var viaApi = pipeline.Job("r8", "Adapters of many ranks share one base model");
        var published = await pipeline.Intake.SubmitAsync(viaApi);
        Assert.Equal("lora-rank-8", published.Queue);
        Assert.Equal(8, published.Admitted.RankBucket);

        // Exactly what docs/messages.md tells a producer in any language to send: camelCase JSON, no envelope.
        var rawId = Guid.NewGuid();
        await pipeline.PublishRawAsync("lora-base", $$"""
            {"jobId":"{{rawId}}","tenant":"acme","prompt":"A plain AMQP client sent this","maxTokens":6,
             "sampling":{"temperature":0},"metadata":{"source":"raw"},"submittedAt":"{{DateTimeOffset.UtcNow:O}}"}
            """);

        var api = await pipeline.WaitForJobAsync(viaApi.JobId, JobStatus.Completed);
        var raw = await pipeline.WaitForJobAsync(rawId, JobStatus.Completed);

        Assert.Equal("r8", api.AdapterId);
        Assert.Equal(8, api.RankBucket);
        Assert.Null(raw.AdapterId);
        Assert.Null(raw.RankBucket);
        Assert.Equal("raw", raw.Metadata!["source"]);
        foreach (var job in new[] { api, raw })
        {
            Assert.Equal("w-all", job.Worker);
            Assert.Equal(Pipeline.Tenant, job.Tenant);
            Assert.NotNull(job.OutputText);
            Assert.True(job.OutputTokens is >= 1 and <= 8, JsonSerializer.Serialize(job));
            Assert.True(job.PromptTokens > 1, $"prompt tokens {job.PromptTokens}");
            Assert.Contains(job.FinishReason, new[] { "eos", "length" });
            Assert.True(job.TotalMs > 0 && job.TtftMs > 0 && job.QueueMs >= 0, JsonSerializer.Serialize(job));
            Assert.True(job.TtftMs <= job.TotalMs, JsonSerializer.Serialize(job));
            Assert.NotNull(job.StartedAt);
            Assert.NotNull(job.CompletedAt);
        }
        Assert.True(raw.OutputTokens <= 6, JsonSerializer.Serialize(raw));
    }
}
