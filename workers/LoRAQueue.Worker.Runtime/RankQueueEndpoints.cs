using LoRAQueue.Core;
using LoRAQueue.Messaging;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>
/// The rank-queue receive endpoints this worker consumes, connected at run time. <see cref="ApplyAsync"/> is the one
/// place they are set up; calling it again with another set stops the queues no longer listed (after their in-flight
/// jobs finish) and connects the new ones — what a placement change needs. Each message gets a consumer from
/// <paramref name="createConsumer"/> (<see cref="WorkerNode.CreateConsumer"/>), so several workers can share one bus.
/// </summary>
public sealed class RankQueueEndpoints(IReceiveEndpointConnector connector, IRankQueueDeclarer declarer, WorkerSettings settings,
                                       Func<SubmitJobConsumer> createConsumer, ILogger<RankQueueEndpoints> logger)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, HostReceiveEndpointHandle> _connected = new(StringComparer.Ordinal);

    public IReadOnlyList<string> Connected
    {
        get { lock (_connected) return [.. _connected.Keys]; }
    }

    /// <summary>The buckets of <see cref="Connected"/> (null = lora-base).</summary>
    public IReadOnlyList<int?> ConnectedBuckets => [.. Connected.Select(RankBuckets.ParseQueueName)];

    public async Task ApplyAsync(IReadOnlyList<int?> buckets, CancellationToken ct)
    {
        var wanted = buckets.Select(b => RankBuckets.QueueName(b)).Distinct().ToList();
        await _gate.WaitAsync(ct);
        try
        {
            // New queues first, then the left ones (make before break): their buckets are never without this worker.
            foreach (var queue in wanted.Except(Connected).ToList())
            {
                await declarer.EnsureQueueAsync(queue, ct);
                var handle = connector.ConnectReceiveEndpoint(queue, (_, endpoint) => Configure(endpoint));
                lock (_connected) _connected[queue] = handle;
                await handle.Ready.WaitAsync(ct);
                logger.LogInformation("Consuming {Queue} (prefetch {Prefetch})", queue, settings.MaxSequences);
            }
            foreach (var queue in Connected.Except(wanted).ToList())
                await StopAsync(queue, ct);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops every endpoint: no new deliveries; returns when in-flight jobs finished or <paramref name="ct"/> fires.</summary>
    public Task StopAllAsync(CancellationToken ct) => ApplyAsync([], ct);

    private async Task StopAsync(string queue, CancellationToken ct)
    {
        HostReceiveEndpointHandle handle;
        lock (_connected)
        {
            handle = _connected[queue];
            _connected.Remove(queue);
        }
        await handle.StopAsync(ct);
        logger.LogInformation("Stopped consuming {Queue}", queue);
    }

    private void Configure(IReceiveEndpointConfigurator endpoint)
    {
        // One message type, sent as plain JSON by producers in any language: no envelope, no type bindings.
        endpoint.ConfigureConsumeTopology = false;
        endpoint.UseRawJsonDeserializer(RawSerializerOptions.All, isDefault: true);
        // The engine batches up to MaxSequences jobs; prefetching more would only hide them from other workers.
        endpoint.PrefetchCount = settings.MaxSequences;
        endpoint.ConcurrentMessageLimit = settings.MaxSequences;
        declarer.ConfigureEndpoint(endpoint); // declared exactly as the topology step declares it
        // A registry or broker outage is waited out with the job on hand; a job's own problems are JobFailed events, not exceptions.
        endpoint.UseMessageRetry(OutageRetry.Configure);
        endpoint.Consumer(createConsumer);
    }
}
