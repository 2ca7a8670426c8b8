using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace LoRAQueue.Messaging;

/// <summary>A queue's dead letters: what its consumer could not process, in <c>&lt;queue&gt;_error</c> with MassTransit's
/// fault headers saying why (or, for <see cref="RankQueueTopology.DeadLetterQueue"/>, what the broker dead-lettered).</summary>
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

    /// <summary>What the broker itself dead-lettered from the project's queues into <see cref="RankQueueTopology.DeadLetterQueue"/>
    /// (a quorum queue's message over its delivery limit — a consumer that kept crashing on it — or one rejected); null when
    /// that queue does not exist yet.</summary>
    public async Task<DeadLetterCount?> CountBrokerDeadLettersAsync(CancellationToken ct)
    {
        await using var connection = await Connect(ct).ConfigureAwait(false);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct).ConfigureAwait(false);
        try
        {
            var declared = await channel.QueueDeclarePassiveAsync(RankQueueTopology.DeadLetterQueue, ct).ConfigureAwait(false);
            return new DeadLetterCount("(broker)", RankQueueTopology.DeadLetterQueue, declared.MessageCount);
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return null;
        }
    }

    /// <summary>The queue a message in <see cref="RankQueueTopology.DeadLetterQueue"/> was dead-lettered from (the broker's
    /// <c>x-first-death-queue</c> header), and why (<c>x-first-death-reason</c>: delivery_limit, rejected, expired, …).</summary>
    public static (string? Queue, string? Reason) DeathOf(IReadOnlyBasicProperties properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        static string? Text(object? value) => value switch
        {
            byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
            string text => text,
            _ => null,
        };
        var headers = properties.Headers;
        return (headers is not null && headers.TryGetValue("x-first-death-queue", out var q) ? Text(q) : null,
                headers is not null && headers.TryGetValue("x-first-death-reason", out var r) ? Text(r) : null);
    }

    /// <summary>Moves up to <paramref name="limit"/> messages (all there are when it starts, by default) from
    /// <c>&lt;queue&gt;_error</c> back to <paramref name="queue"/>, each confirmed by the broker before it is removed from
    /// the error queue. Returns how many moved. One that fails again lands in the error queue again, not in this pass.</summary>
    public async Task<int> ReplayAsync(string queue, int? limit, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        if (queue.EndsWith(ErrorSuffix, StringComparison.Ordinal))
            throw new ArgumentException($"name the queue to replay into ('{queue[..^ErrorSuffix.Length]}'), not its error queue", nameof(queue));
        if (queue == RankQueueTopology.DeadLetterQueue) return await ReplayBrokerDeadLettersAsync(limit, ct).ConfigureAwait(false);
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

    /// <summary>Moves messages from <see cref="RankQueueTopology.DeadLetterQueue"/> back to the queue each was dead-lettered from,
    /// without the broker's death headers (a new delivery count starts), each confirmed before it is removed. A message whose
    /// queue is not known stays. Returns how many moved.</summary>
    private async Task<int> ReplayBrokerDeadLettersAsync(int? limit, CancellationToken ct)
    {
        await using var connection = await Connect(ct).ConfigureAwait(false);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), ct).ConfigureAwait(false);
        uint waiting = (await channel.QueueDeclarePassiveAsync(RankQueueTopology.DeadLetterQueue, ct).ConfigureAwait(false)).MessageCount;
        int moved = 0, seen = 0, bound = (int)Math.Min(waiting, (uint)(limit ?? int.MaxValue));
        var unknown = new List<ulong>();
        while (seen < waiting && moved < bound
               && await channel.BasicGetAsync(RankQueueTopology.DeadLetterQueue, autoAck: false, ct).ConfigureAwait(false) is { } message)
        {
            seen++;
            if (DeathOf(message.BasicProperties).Queue is not { Length: > 0 } origin)
            {
                unknown.Add(message.DeliveryTag);
                continue;
            }
            var headers = message.BasicProperties.Headers?
                .Where(h => h.Key != "x-death" && !h.Key.StartsWith("x-first-death-", StringComparison.Ordinal)
                            && !h.Key.StartsWith("x-last-death-", StringComparison.Ordinal))
                .ToDictionary(h => h.Key, h => h.Value);
            var properties = new BasicProperties(message.BasicProperties) { Headers = headers };
            await channel.BasicPublishAsync("", origin, mandatory: true, properties, message.Body, ct).ConfigureAwait(false);
            await channel.BasicAckAsync(message.DeliveryTag, multiple: false, ct).ConfigureAwait(false);
            moved++;
        }
        foreach (var tag in unknown) await channel.BasicNackAsync(tag, multiple: false, requeue: true, ct).ConfigureAwait(false);
        return moved;
    }

    /// <summary>The headers without MassTransit's fault description (MT-Reason, MT-Fault-*): the replayed message is new.</summary>
    private static Dictionary<string, object?>? WithoutFault(IDictionary<string, object?>? headers) =>
        headers?.Where(h => h.Key != "MT-Reason" && !h.Key.StartsWith("MT-Fault-", StringComparison.Ordinal))
            .ToDictionary(h => h.Key, h => h.Value);

    private Task<IConnection> Connect(CancellationToken ct) =>
        RabbitMqConnections.ConnectAsync(settings, "loraqueue-dead-letters", ct);
}
