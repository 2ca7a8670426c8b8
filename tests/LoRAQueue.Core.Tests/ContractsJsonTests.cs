using System.Text.Json;
using LoRAQueue.Contracts;

namespace LoRAQueue.Core.Tests;

/// <summary>The records must read the camelCase JSON that a non-.NET producer writes by hand.</summary>
public class ContractsJsonTests
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    [Fact]
    public void SubmitJob_reads_a_hand_written_producer_message()
    {
        const string json = """
            {"jobId":"6d7c2c0e-7f4e-4a8a-9a3e-0d2f9f7b1c11","tenant":"acme","adapterId":"support-r8",
             "prompt":"Hello","sampling":{"temperature":0.7,"topP":0.9,"topK":40,"seed":7,"stop":["\n"]},
             "maxTokens":16,"metadata":{"ticket":"42"},"submittedAt":"2025-01-02T03:04:05Z"}
            """;
        var job = JsonSerializer.Deserialize<SubmitJob>(json, Web)!;
        Assert.Equal(Guid.Parse("6d7c2c0e-7f4e-4a8a-9a3e-0d2f9f7b1c11"), job.JobId);
        Assert.Equal(1, job.SchemaVersion); // absent → current version
        Assert.Equal("support-r8", job.AdapterId);
        Assert.Equal(16, job.MaxTokens);
        Assert.Equal(0.9f, job.Sampling!.TopP);
        Assert.Equal(7UL, job.Sampling.Seed);
        Assert.Equal(["\n"], job.Sampling.Stop!);
        Assert.Equal("42", job.Metadata!["ticket"]);
        Assert.Equal(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero), job.SubmittedAt);
    }

    [Fact]
    public void Omitted_fields_take_their_documented_defaults()
    {
        var job = JsonSerializer.Deserialize<SubmitJob>("""{"jobId":"6d7c2c0e-7f4e-4a8a-9a3e-0d2f9f7b1c11","prompt":"x"}""", Web)!;
        Assert.Equal(64, job.MaxTokens);
        Assert.Null(job.AdapterId);
        Assert.Null(job.Sampling);
        Assert.Equal("", job.Tenant);
    }

    [Fact]
    public void JobCompleted_round_trips_with_its_positional_timings()
    {
        var sent = new JobCompleted
        {
            JobId = Guid.NewGuid(), Tenant = "t", Worker = "w1", OutputText = "out", PromptTokens = 3, OutputTokens = 4,
            FinishReason = "length", Timings = new JobTimings(1, 2, 3, 4, 5), RankBucket = 32,
        };
        var json = JsonSerializer.Serialize(sent, Web);
        Assert.Contains("\"ttftMs\":3", json);
        var read = JsonSerializer.Deserialize<JobCompleted>(json, Web)!;
        Assert.Equal(sent.Timings, read.Timings);
        Assert.Equal(sent with { Metadata = null }, read with { Metadata = null });
    }
}
