using LoRAQueue.Contracts;
using LoRAQueue.Core;
using LoRAQueue.History;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Messaging;

/// <summary>Where a submitted job went.</summary>
public sealed record PublishedJob(Guid JobId, string Queue, int? RankBucket);

/// <summary>The adapter named by a job is not in the registry (or belongs to another tenant).</summary>
public sealed class UnknownAdapterException(string adapterId, string message) : Exception(message)
{
    public string AdapterId { get; } = adapterId;
}

/// <summary>
/// The .NET producer API: sends a <see cref="SubmitJob"/> (as raw JSON, persistent, mandatory) to the exchange of its
/// rank queue — the bucket comes from the adapter registry's record, the base model goes to lora-base — and records
/// the job as Queued in the history. The send comes first: a job is never recorded that is not on a queue, and the
/// history never regresses if the worker's events arrive before the Queued row.
/// </summary>
public sealed class JobPublisher(IBus bus, IAdapterRegistry adapters, IJobHistory history, IRankQueueDeclarer declarer,
                                 TimeProvider clock, ILogger<JobPublisher> logger)
{
    public async Task<PublishedJob> SubmitAsync(SubmitJob job, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (string.IsNullOrWhiteSpace(job.Prompt)) throw new ArgumentException("the job's prompt is empty", nameof(job));
        if (job.MaxTokens < 1) throw new ArgumentException($"maxTokens must be at least 1 (got {job.MaxTokens})", nameof(job));
        if (job.JobId == Guid.Empty) job = job with { JobId = NewId.NextGuid() };
        if (job.SubmittedAt == default) job = job with { SubmittedAt = clock.GetUtcNow() };

        int? bucket = null;
        if (job.AdapterId is { } adapterId)
        {
            var record = await adapters.GetAsync(adapterId, ct).ConfigureAwait(false)
                ?? throw new UnknownAdapterException(adapterId, $"adapter '{adapterId}' is not registered");
            if (!string.Equals(record.Tenant, job.Tenant, StringComparison.Ordinal))
                throw new UnknownAdapterException(adapterId, $"adapter '{adapterId}' does not belong to tenant '{job.Tenant}'");
            bucket = record.RankBucket;
        }

        var queue = RankBuckets.QueueName(bucket);
        await declarer.EnsureQueueAsync(queue, ct).ConfigureAwait(false);
        var endpoint = await bus.GetSendEndpoint(RankQueueTopology.SendAddress(queue)).ConfigureAwait(false);
        await endpoint.Send(job, context =>
        {
            context.MessageId = job.JobId;
            context.Durable = true;
            if (context.TryGetPayload(out RabbitMqSendContext? rabbit)) rabbit.Mandatory = true; // unroutable = error, not a silent drop
        }, ct).ConfigureAwait(false);

        await history.RecordQueuedAsync(job, bucket, ct).ConfigureAwait(false);
        logger.LogDebug("Job {JobId} sent to {Queue}", job.JobId, queue);
        return new PublishedJob(job.JobId, queue, bucket);
    }
}
