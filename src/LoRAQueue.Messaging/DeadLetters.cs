using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace LoRAQueue.Messaging;

/// <summary>A queue's dead letters: what its consumer could not process, in <c>&lt;queue&gt;_error</c> with MassTransit's
/// fault headers saying why.</summary>
public sealed record DeadLetterCount(string Queue, string ErrorQueue, uint Messages);

/// <summary>
/// Lists and replays dead letters. A consumer faults a message only for what another try cannot fix (a transient outage is
/// waited out, <see cref="OutageRetry"/>); once the cause is fixed — a bug deployed away, a schema migrated — replaying puts
/// the messages back on their queue unchanged but for the fault headers. Idempotent consumers make a replay safe to repeat.
/// </summary>
public sealed class DeadLetters(RabbitMqSettings settings)
{
    public const string ErrorSuffix = "_error";

    /// <summary>The dead letters of each of <paramref name="queues"/> whose error queue exists.</summary>
    public async Task<IReadOnlyList<DeadLetterCount>> CountAsync(IEnumerable<string> queues, CancellationToken ct)
    {
        await using var connection = await Connect(ct).ConfigureAwait(false);
        var counts = new List<DeadLetterCount>();
        foreach (var queue in queues.Distinct(StringComparer.Ordinal))
        {
            // A passive declare of a missing queue closes the channel: one channel per probe.
            await using var channel = await connection.CreateChannelAsync(cancellationToken: ct).ConfigureAwait(false);
            try
            {
                var declared = await channel.QueueDeclarePassiveAsync(queue + ErrorSuffix, ct).ConfigureAwait(false);
                counts.Add(new DeadLetterCount(queue, queue + ErrorSuffix, declared.MessageCount));
            }
            catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
            {
            }
        }
        return counts;
    }

    /// <summary>Moves up to <paramref name="limit"/> messages (all there are when it starts, by default) from
    /// <c>&lt;queue&gt;_error</c> back to <paramref name="queue"/>, each confirmed by the broker before it is removed from
    /// the error queue. Returns how many moved. One that fails again lands in the error queue again, not in this pass.</summary>
    public async Task<int> ReplayAsync(string queue, int? limit, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        if (queue.EndsWith(ErrorSuffix, StringComparison.Ordinal))
            throw new ArgumentException($"name the queue to replay into ('{queue[..^ErrorSuffix.Length]}'), not its error queue", nameof(queue));
        await using var connection = await Connect(ct).ConfigureAwait(false);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), ct).ConfigureAwait(false);
        await channel.QueueDeclarePassiveAsync(queue, ct).ConfigureAwait(false);
        uint waiting = (await channel.QueueDeclarePassiveAsync(queue + ErrorSuffix, ct).ConfigureAwait(false)).MessageCount;
        int moved = 0, bound = (int)Math.Min(waiting, (uint)(limit ?? int.MaxValue));
        while (moved < bound && await channel.BasicGetAsync(queue + ErrorSuffix, autoAck: false, ct).ConfigureAwait(false) is { } message)
        {
            var properties = new BasicProperties(message.BasicProperties) { Headers = WithoutFault(message.BasicProperties.Headers) };
            await channel.BasicPublishAsync("", queue, mandatory: true, properties, message.Body, ct).ConfigureAwait(false);
            await channel.BasicAckAsync(message.DeliveryTag, multiple: false, ct).ConfigureAwait(false);
            moved++;
        }
        return moved;
    }

    /// <summary>The headers without MassTransit's fault description (MT-Reason, MT-Fault-*): the replayed message is new.</summary>
    private static Dictionary<string, object?>? WithoutFault(IDictionary<string, object?>? headers) =>
        headers?.Where(h => h.Key != "MT-Reason" && !h.Key.StartsWith("MT-Fault-", StringComparison.Ordinal))
            .ToDictionary(h => h.Key, h => h.Value);

    private Task<IConnection> Connect(CancellationToken ct) =>
        RabbitMqRankQueueDeclarer.CreateConnectionFactory(settings, "loraqueue-dead-letters").CreateConnectionAsync(ct);
}
