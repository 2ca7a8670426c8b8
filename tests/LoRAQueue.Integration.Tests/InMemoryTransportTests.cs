using System.Collections.Concurrent;
using LoRAQueue.Admission;
using LoRAQueue.Contracts;
using LoRAQueue.History;
using LoRAQueue.Messaging;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace LoRAQueue.Integration.Tests;

/// <summary>The embedded quick start's transport: same wiring, no servers (so no services needed for this one).</summary>
[Collection(PipelineCollection.Name)]
public sealed class InMemoryTransportTests(ModelFiles files)
{
    [Fact]
    public async Task The_in_memory_transport_carries_a_published_job_to_its_rank_queue_and_records_it_queued()
    {
        var history = new InMemoryJobHistory();
        var registry = new InMemoryAdapterRegistry(AdapterValidator.ForModelDirectory(files.AdapterStorePath, files.ModelPath));
        await registry.RegisterAsync("r32", "acme", CancellationToken.None);
        var received = new ConcurrentQueue<(string Queue, SubmitJob Job)>();
        await using var provider = Producer(history, registry);
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync();
        try
        {
            foreach (var queue in new[] { "lora-base", "lora-rank-32" })
            {
                var handle = bus.ConnectReceiveEndpoint(queue, e => e.Handler<SubmitJob>(ctx =>
                {
                    received.Enqueue((queue, ctx.Message));
                    return Task.CompletedTask;
                }));
                await handle.Ready;
            }

            var job = new SubmitJob { JobId = Guid.NewGuid(), Tenant = "acme", AdapterId = "r32", Prompt = "hi", MaxTokens = 3 };
            var published = await provider.GetRequiredService<JobIntake>().SubmitAsync(job);

            Assert.Equal("lora-rank-32", published.Queue);
            var (queueName, delivered) = await Eventually.WaitAsync(() => Task.FromResult(received.FirstOrDefault()),
                r => r.Job is not null, "the job to arrive");
            Assert.Equal("lora-rank-32", queueName);
            Assert.Equal(job.JobId, delivered.JobId);
            Assert.Equal("hi", delivered.Prompt);
            Assert.NotEqual(default, delivered.SubmittedAt); // the publisher stamps it
            var record = await history.GetAsync(job.JobId, CancellationToken.None);
            Assert.Equal(JobStatus.Queued, record!.Status);
            Assert.Equal(32, record.RankBucket);
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    [Fact]
    public async Task A_batch_reads_the_registry_once_per_adapter_and_records_its_queued_jobs_in_one_write()
    {
        var registry = new CountingRegistry(new InMemoryAdapterRegistry(AdapterValidator.ForModelDirectory(files.AdapterStorePath, files.ModelPath)));
        foreach (var id in new[] { "r8", "r32", "r128" }) await registry.RegisterAsync(id, "acme", CancellationToken.None);
        var history = new CountingHistory(new InMemoryJobHistory());
        await using var provider = Producer(history, registry);
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync();
        try
        {
            var intake = provider.GetRequiredService<JobIntake>();
            var lookups = new JobIntake.AdapterLookups();
            var admitted = new List<AdmittedJob>();
            for (int i = 0; i < 90; i++)
            {
                var adapter = (i % 3) switch { 0 => "r8", 1 => "r32", _ => "r128" };
                admitted.Add(await intake.AdmitAsync(new SubmitJob { Tenant = "acme", AdapterId = adapter, Prompt = $"line {i}", MaxTokens = 2 },
                                                     lookups, CancellationToken.None));
            }
            var queued = await intake.QueueAsync(admitted, CancellationToken.None);

            Assert.Equal(3, registry.Reads);
            Assert.All(queued, q => Assert.True(q.Sent));
            Assert.Equal([90], history.QueuedWrites);
            Assert.Equal(90, (await history.ListAsync(new JobQuery(Status: JobStatus.Queued, Limit: 100), CancellationToken.None)).Items.Count);
            Assert.Equal(["lora-rank-128", "lora-rank-32", "lora-rank-8"], queued.Select(q => q.Queue!).Distinct().Order());
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    /// <summary>A .NET producer on the in-memory transport: the bus and JobIntake over these stores.</summary>
    private ServiceProvider Producer(IJobHistory history, IAdapterRegistry registry)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["LoRAQueue:Transport"] = "inmemory" }).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(history);
        services.AddSingleton(registry);
        services.AddLoRAQueueBus(configuration);
        services.AddJobIntake(files.ModelPath, 4096);
        return services.BuildServiceProvider();
    }

    private sealed class CountingRegistry(IAdapterRegistry inner) : IAdapterRegistry
    {
        private int _reads;
        public int Reads => _reads;
        public Task<AdapterRecord> RegisterAsync(string id, string tenant, CancellationToken ct) => inner.RegisterAsync(id, tenant, ct);
        public Task<AdapterRecord?> GetAsync(string id, CancellationToken ct)
        {
            Interlocked.Increment(ref _reads);
            return inner.GetAsync(id, ct);
        }
        public Task<IReadOnlyList<AdapterRecord>> ListAsync(string? tenant, CancellationToken ct) => inner.ListAsync(tenant, ct);
    }

    private sealed class CountingHistory(IJobHistory inner) : IJobHistory
    {
        public ConcurrentQueue<int> QueuedWrites { get; } = new();
        public Task RecordQueuedAsync(IReadOnlyList<QueuedJobRecord> jobs, CancellationToken ct)
        {
            QueuedWrites.Enqueue(jobs.Count);
            return inner.RecordQueuedAsync(jobs, ct);
        }
        public Task RecordStartedAsync(JobStarted e, CancellationToken ct) => inner.RecordStartedAsync(e, ct);
        public Task RecordCompletedAsync(JobCompleted e, CancellationToken ct) => inner.RecordCompletedAsync(e, ct);
        public Task RecordFailedAsync(JobFailed e, CancellationToken ct) => inner.RecordFailedAsync(e, ct);
        public Task<JobRecord?> GetAsync(Guid jobId, CancellationToken ct) => inner.GetAsync(jobId, ct);
        public Task<JobPage> ListAsync(JobQuery q, CancellationToken ct) => inner.ListAsync(q, ct);
    }
}
