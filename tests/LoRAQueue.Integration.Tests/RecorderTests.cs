using System.Collections.Concurrent;
using LoRAQueue.Contracts;
using LoRAQueue.History;
using MassTransit;

namespace LoRAQueue.Integration.Tests;

[Collection(PipelineCollection.Name)]
public sealed class RecorderTests(ModelFiles files)
{
    [Fact]
    public async Task The_recorder_keeps_one_row_per_job_when_events_are_redelivered_or_arrive_late_and_merges_what_a_late_one_adds()
    {
        // The real recorder on its real queue (job-history), hosted by this process so the test sees each consume end.
        var consumed = new ConsumedEvents();
        await using var pipeline = await Pipeline.CreateAsync(files, bus => bus.AddJobHistoryRecorder());
        using var observer = pipeline.Bus.ConnectConsumeObserver(consumed);

        var jobId = Guid.NewGuid();
        var submittedAt = DateTimeOffset.UtcNow.AddSeconds(-2);
        var completed = new JobCompleted
        {
            JobId = jobId, Tenant = Pipeline.Tenant, AdapterId = "r8", RankBucket = 8, Worker = "w-first", OutputText = "first answer",
            PromptTokens = 5, OutputTokens = 3, FinishReason = "length", Timings = new JobTimings(10, 1, 20, 5, 40),
            SubmittedAt = submittedAt, CompletedAt = submittedAt.AddSeconds(1),
        };

        await pipeline.Bus.Publish(completed);
        await pipeline.Bus.Publish(completed); // the same event delivered twice
        await consumed.WaitAsync(jobId, 2);
        var once = await pipeline.History.GetAsync(jobId, CancellationToken.None);

        // A redelivered job finished again elsewhere, and a JobStarted that arrives after the end: a raw AMQP producer's
        // prompt reaches the history only with JobStarted.
        await pipeline.Bus.Publish(completed with { Worker = "w-second", OutputText = "second answer", CompletedAt = submittedAt.AddSeconds(3) });
        await pipeline.Bus.Publish(new JobStarted
        {
            JobId = jobId, Tenant = Pipeline.Tenant, AdapterId = "r8", RankBucket = 8, Worker = "w-second", Prompt = "late",
            SubmittedAt = submittedAt, StartedAt = submittedAt.AddSeconds(2),
        });
        await consumed.WaitAsync(jobId, 4);
        var after = await pipeline.History.GetAsync(jobId, CancellationToken.None);

        Assert.NotNull(once);
        Assert.Equal(JobStatus.Completed, once.Status);
        Assert.Equal("first answer", once.OutputText);
        Assert.Equal("w-first", once.Worker);
        Assert.Equal(40, once.TotalMs);
        Assert.Null(once.Prompt);
        Assert.Equal(once with { Prompt = "late", UpdatedAt = after!.UpdatedAt }, after); // the prompt added; nothing regressed or overwritten
        var page = await pipeline.History.ListAsync(new JobQuery(Tenant: Pipeline.Tenant), CancellationToken.None);
        Assert.Single(page.Items);
    }

    /// <summary>Counts recorder consumes (finished or faulted) per job id.</summary>
    private sealed class ConsumedEvents : IConsumeObserver
    {
        private readonly ConcurrentDictionary<Guid, int> _count = new();

        public Task WaitAsync(Guid jobId, int count) =>
            Eventually.WaitAsync(() => Task.FromResult(_count.GetValueOrDefault(jobId)), n => n >= count, $"{count} events for {jobId} consumed");

        public Task PreConsume<T>(ConsumeContext<T> context) where T : class => Task.CompletedTask;

        public Task PostConsume<T>(ConsumeContext<T> context) where T : class => Count(context.Message);

        public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception) where T : class => Count(context.Message);

        private Task Count(object message)
        {
            Guid? id = message switch { JobStarted s => s.JobId, JobCompleted c => c.JobId, JobFailed f => f.JobId, _ => null };
            if (id is { } jobId) _count.AddOrUpdate(jobId, 1, (_, n) => n + 1);
            return Task.CompletedTask;
        }
    }
}
