using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using LoRAQueue.Messaging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace LoRAQueue.Cli.Reliability;

/// <summary>One job event as the tap saw it: its type, and the fields the history must end up holding.</summary>
internal sealed record TappedEvent(string Type, string? Prompt, string? OutputText, string? ErrorCode);

/// <summary>
/// Every job event the workers publish, read the way any outside consumer would (docs/messages.md): a durable queue of the
/// drill's own bound to the event exchanges, so events published around a broker restart are kept. The last event of each
/// job is the state its history row must end in.
/// </summary>
internal sealed class EventTap : IAsyncDisposable
{
    public const string QueueName = "loraqueue-drill-events";
    private static readonly string[] Exchanges = ["LoRAQueue.Contracts:JobStarted", "LoRAQueue.Contracts:JobCompleted", "LoRAQueue.Contracts:JobFailed"];

    private readonly IConnection _connection;
    private readonly IChannel _channel;

    private EventTap(IConnection connection, IChannel channel)
    {
        _connection = connection;
        _channel = channel;
    }

    public ConcurrentDictionary<Guid, ConcurrentQueue<TappedEvent>> Events { get; } = new();

    public static async Task<EventTap> StartAsync(RabbitMqSettings settings, CancellationToken ct)
    {
        // Automatic recovery: survives the broker's restart (or its node's loss), queue and consumer included.
        var connection = await RabbitMqConnections.ConnectAsync(settings, "loraqueue-drill-tap", ct);
        var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        await channel.QueueDeclareAsync(QueueName, durable: true, exclusive: false, autoDelete: false,
            arguments: QueueTopology.ForClient(new QueueTopology(settings).TerminalQueueArguments), cancellationToken: ct);
        await channel.QueuePurgeAsync(QueueName, ct);
        foreach (var exchange in Exchanges)
        {
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, cancellationToken: ct);
            await channel.QueueBindAsync(QueueName, exchange, "", cancellationToken: ct);
        }
        var tap = new EventTap(connection, channel);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            tap.Record(delivery.Body.Span);
            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
        };
        await channel.BasicConsumeAsync(QueueName, autoAck: false, consumer, ct);
        return tap;
    }

    private void Record(ReadOnlySpan<byte> body)
    {
        var envelope = JsonNode.Parse(body);
        var message = envelope?["message"];
        string type = ((string?)envelope?["messageType"]?[0])?.Split(':')[^1] ?? "?";
        if (!Guid.TryParse((string?)message?["jobId"], out var jobId)) return;
        Events.GetOrAdd(jobId, _ => new()).Enqueue(new TappedEvent(type, (string?)message?["prompt"], (string?)message?["outputText"],
                                                                   (string?)message?["reasonCode"]));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _channel.QueueDeleteAsync(QueueName);
        }
        catch (RabbitMQ.Client.Exceptions.RabbitMQClientException)
        {
            // The broker is gone (the drill failed mid-outage): the queue stays, and is purged by the next run.
        }
        await _channel.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
