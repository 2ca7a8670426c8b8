using LoRAQueue.Contracts;
using LoRAQueue.History;
using MassTransit;

namespace LoRAQueue.Integration.Tests;

[Collection(PipelineCollection.Name)]
public sealed class DeadLetterTests(ModelFiles files)
{
    [Fact]
    public async Task A_dead_lettered_history_event_is_listed_and_replayed_into_the_history()
    {
        await using var pipeline = await Pipeline.CreateAsync(files);
        await pipeline.StartWorkerAsync("w-recorder", "base"); // a worker hosts the history recorder on job-history
        // An event the recorder once failed on (say, before a bug fix): MassTransit's envelope, in job-history_error.
        var jobId = Guid.NewGuid();
        var completed = new JobCompleted
        {
            JobId = jobId, Tenant = Pipeline.Tenant, Worker = "w-old", OutputText = "recovered", PromptTokens = 3, OutputTokens = 1,
            FinishReason = "eos", SubmittedAt = DateTimeOffset.UtcNow.AddMinutes(-5), CompletedAt = DateTimeOffset.UtcNow.AddMinutes(-4),
        };
        var errorQueue = await pipeline.Bus.GetSendEndpoint(new Uri("queue:job-history_error"));
        await errorQueue.Send(completed, context => context.Headers.Set("MT-Reason", "fault"));

        var (listed, listing) = await CliAsync(pipeline, "dead-letters");
        Assert.Equal(0, listed);
        Assert.Matches(@"job-history_error\s+1\b", listing);

        var (replayed, replay) = await CliAsync(pipeline, "dead-letters", "replay", "job-history");
        Assert.Equal(0, replayed);
        Assert.Contains("replayed 1 messages from job-history_error to job-history", replay);
        var record = await pipeline.WaitForJobAsync(jobId, JobStatus.Completed);
        Assert.Equal("recovered", record.OutputText);
        Assert.Equal(0u, await pipeline.QueueDepthAsync("job-history_error"));

        var (refused, error) = await CliAsync(pipeline, "dead-letters", "replay", "job-history_error");
        Assert.Equal(1, refused);
        Assert.Contains("not its error queue", error);
    }

    private static async Task<(int ExitCode, string Output)> CliAsync(Pipeline pipeline, params string[] arguments)
    {
        var result = await ChildProcess.RunAsync("dotnet", [pipeline.Env.CliDll, .. arguments], TimeSpan.FromSeconds(60), pipeline.HostEnvironment());
        return (result.ExitCode, result.Stdout + result.Stderr);
    }
}
