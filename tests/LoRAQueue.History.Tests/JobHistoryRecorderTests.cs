using LoRAQueue.Contracts;
using MassTransit;
using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;

namespace LoRAQueue.History.Tests;

/// <summary>The recorder on a MassTransit in-memory bus: events published in any order, redelivered, or hitting a
/// flaky database still leave one correct record.</summary>
public abstract class JobHistoryRecorderTests
{
    protected abstract IJobHistory History { get; }

    [Fact]
    public async Task Published_events_in_any_order_with_redeliveries_leave_one_final_record()
    {
        await using var bus = await RecorderBus.StartAsync(History);
        var job = JobEvents.New();

        await bus.PublishAndWait(job.Started());
        await bus.PublishAndWait(job.Completed());
        await bus.PublishAndWait(job.Started(worker: "worker-b"));      // late
        await bus.PublishAndWait(job.Completed("re-run", "worker-b"));  // redelivered after a re-run

        var page = await History.ListAsync(new JobQuery(Tenant: job.Tenant), CancellationToken.None);
        var record = Assert.Single(page.Items);
        Assert.Equal((JobStatus.Completed, "The customer wants a refund.", "worker-a"), (record.Status, record.OutputText, record.Worker));
        Assert.Equal(JobEvents.Epoch.AddMilliseconds(250), record.StartedAt);
    }

    [Fact]
    public async Task Failed_event_is_recorded_through_the_job_history_queue()
    {
        await using var bus = await RecorderBus.StartAsync(History);
        var job = JobEvents.New();

        var consumed = await bus.PublishAndWait(job.Failed(FailureReasons.UnknownAdapter));

        Assert.EndsWith("/" + JobHistoryRecorderDefinition.QueueName, consumed.ReceiveContext.InputAddress.AbsolutePath);
        var record = await History.GetAsync(job.JobId, CancellationToken.None);
        Assert.Equal((JobStatus.Failed, FailureReasons.UnknownAdapter), (record!.Status, record.ErrorCode));
    }

    [Fact]
    public async Task Transient_store_errors_are_retried()
    {
        var flaky = new FlakyHistory(History, failures: 2);
        await using var bus = await RecorderBus.StartAsync(flaky);
        var job = JobEvents.New();

        await bus.PublishAndWait(job.Completed());

        Assert.Equal(3, flaky.Attempts);
        Assert.Equal(JobStatus.Completed, (await History.GetAsync(job.JobId, CancellationToken.None))!.Status);
    }

    /// <summary>Fails the first <c>failures</c> writes, like a database in the middle of a restart.</summary>
    private sealed class FlakyHistory(IJobHistory inner, int failures) : IJobHistory
    {
        private int _attempts;
        public int Attempts => _attempts;

        private Task Fail() => Interlocked.Increment(ref _attempts) <= failures
            ? Task.FromException(new TimeoutException("database restarting")) : Task.CompletedTask;

        public async Task RecordQueuedAsync(IReadOnlyList<QueuedJobRecord> jobs, CancellationToken ct) { await Fail(); await inner.RecordQueuedAsync(jobs, ct); }
        public async Task RecordStartedAsync(JobStarted e, CancellationToken ct) { await Fail(); await inner.RecordStartedAsync(e, ct); }
        public async Task RecordCompletedAsync(JobCompleted e, CancellationToken ct) { await Fail(); await inner.RecordCompletedAsync(e, ct); }
        public async Task RecordFailedAsync(JobFailed e, CancellationToken ct) { await Fail(); await inner.RecordFailedAsync(e, ct); }
        public Task<JobRecord?> GetAsync(Guid jobId, CancellationToken ct) => inner.GetAsync(jobId, ct);
        public Task<JobPage> ListAsync(JobQuery q, CancellationToken ct) => inner.ListAsync(q, ct);
    }

    /// <summary>The recorder wired as a host wires it (AddMassTransit + ConfigureEndpoints), on the in-memory transport.</summary>
    private sealed class RecorderBus(ServiceProvider provider, IBusControl bus, ConsumedMessages consumed) : IAsyncDisposable
    {
        public static async Task<RecorderBus> StartAsync(IJobHistory history)
        {
            var provider = new ServiceCollection()
                .AddSingleton(history)
                .AddMassTransit(x =>
                {
                    x.DisableUsageTelemetry();
                    x.AddJobHistoryRecorder();
                    x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
                })
                .BuildServiceProvider(validateScopes: true);
            var bus = provider.GetRequiredService<IBusControl>();
            var consumed = new ConsumedMessages();
            bus.ConnectConsumeObserver(consumed);
            await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
            return new RecorderBus(provider, bus, consumed);
        }

        /// <summary>Publishes and waits until the recorder has consumed this very message (after any retries).</summary>
        public async Task<ConsumeContext> PublishAndWait<T>(T message) where T : class
        {
            var messageId = NewId.NextGuid();
            var done = consumed.For(messageId);
            await bus.Publish(message, c => c.MessageId = messageId);
            var (context, fault) = await done.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Null(fault);
            return context;
        }

        public async ValueTask DisposeAsync()
        {
            await bus.StopAsync();
            await provider.DisposeAsync();
        }
    }

    private sealed class ConsumedMessages : IConsumeObserver
    {
        private readonly ConcurrentDictionary<Guid, TaskCompletionSource<(ConsumeContext, Exception?)>> _waiting = new();

        public Task<(ConsumeContext, Exception?)> For(Guid messageId) => Source(messageId).Task;

        public Task PreConsume<T>(ConsumeContext<T> context) where T : class => Task.CompletedTask;

        public Task PostConsume<T>(ConsumeContext<T> context) where T : class => Complete(context, null);

        public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception) where T : class => Complete(context, exception);

        private Task Complete(ConsumeContext context, Exception? fault)
        {
            if (context.MessageId is { } id) Source(id).TrySetResult((context, fault));
            return Task.CompletedTask;
        }

        private TaskCompletionSource<(ConsumeContext, Exception?)> Source(Guid id) =>
            _waiting.GetOrAdd(id, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
    }
}

public sealed class InMemoryJobHistoryRecorderTests : JobHistoryRecorderTests
{
    protected override IJobHistory History { get; } = new InMemoryJobHistory();
}

public sealed class PostgresJobHistoryRecorderTests(PostgresDatabaseFixture db)
    : JobHistoryRecorderTests, IClassFixture<PostgresDatabaseFixture>
{
    protected override IJobHistory History { get; } = new PostgresJobHistory(db.Database.DataSource);
}
