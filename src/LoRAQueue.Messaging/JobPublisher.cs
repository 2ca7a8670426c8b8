using LoRAQueue.Contracts;
using LoRAQueue.Core;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Messaging;

/// <summary>
/// Sends an admitted <see cref="SubmitJob"/> (raw JSON, persistent, mandatory) to the exchange of its rank queue. It decides
/// nothing: the caller has admitted the job (<c>JobIntake</c>) and resolved its rank bucket (null = lora-base).
/// </summary>
public sealed class JobPublisher(IBus bus, IRankQueueDeclarer declarer, ILogger<JobPublisher> logger)
{
    /// <summary>Sends the job; returns the queue it went to. Throws when the broker did not take it.</summary>
    public async Task<string> SendAsync(SubmitJob job, int? rankBucket, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job.JobId == Guid.Empty) throw new ArgumentException("an admitted job has a job id", nameof(job));
        var queue = RankBuckets.QueueName(rankBucket);
        await declarer.EnsureQueueAsync(queue, ct).ConfigureAwait(false);
        var endpoint = await bus.GetSendEndpoint(RankQueueTopology.SendAddress(queue)).ConfigureAwait(false);
        await endpoint.Send(job, context =>
        {
            context.MessageId = job.JobId;
            context.Durable = true;
            if (context.TryGetPayload(out RabbitMqSendContext? rabbit)) rabbit.Mandatory = true; // unroutable = error, not a silent drop
        }, ct).ConfigureAwait(false);
        logger.LogDebug("Job {JobId} sent to {Queue}", job.JobId, queue);
        return queue;
    }
}
