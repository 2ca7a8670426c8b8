using MassTransit;

namespace LoRAQueue.Messaging;

/// <summary>Declares rank queues (and the dead-letter exchange) before anything is sent to them, so a job
/// published before any worker starts waits in its queue instead of being dropped by an unbound exchange; and gives each
/// rank-queue receive endpoint the same declaration (<see cref="QueueTopology"/>).</summary>
public interface IRankQueueDeclarer
{
    /// <summary>Declares every queue of the configured buckets plus lora-base.</summary>
    Task DeclareAllAsync(CancellationToken ct);

    /// <summary>Declares one queue (idempotent; remembered so repeated calls cost nothing).</summary>
    Task EnsureQueueAsync(string queueName, CancellationToken ct);

    /// <summary>Makes a rank queue's receive endpoint declare its queue exactly as this step does.</summary>
    void ConfigureEndpoint(IReceiveEndpointConfigurator endpoint);
}

/// <summary>In-memory transport: receive endpoints create their queues, and nothing survives the process anyway.</summary>
public sealed class InMemoryRankQueueDeclarer : IRankQueueDeclarer
{
    public Task DeclareAllAsync(CancellationToken ct) => Task.CompletedTask;
    public Task EnsureQueueAsync(string queueName, CancellationToken ct) => Task.CompletedTask;
    public void ConfigureEndpoint(IReceiveEndpointConfigurator endpoint) { }
}
