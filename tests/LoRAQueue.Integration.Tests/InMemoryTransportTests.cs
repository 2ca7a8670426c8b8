using System.Collections.Concurrent;
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
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LoRAQueue:Transport"] = "inmemory",
        }).Build();
        var history = new InMemoryJobHistory();
        var registry = new InMemoryAdapterRegistry(AdapterValidator.ForModelDirectory(files.AdapterStorePath, files.ModelPath));
        await registry.RegisterAsync("r32", "acme", CancellationToken.None);
        var received = new ConcurrentQueue<(string Queue, SubmitJob Job)>();

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IJobHistory>(history);
        services.AddSingleton<IAdapterRegistry>(registry);
        services.AddLoRAQueueBus(configuration);
        await using var provider = services.BuildServiceProvider();
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
            var published = await provider.GetRequiredService<JobPublisher>().SubmitAsync(job);

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
}
