using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using LoRAQueue.Messaging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace LoRAQueue.Cli.Reliability;

/// <summary>One job event as the tap saw it: its type, and the fields the history must end up holding; for the cluster bench
/// also who ran it, when, and its timings (null where the event has none).</summary>
internal sealed record TappedEvent(string Type, string? Prompt, string? OutputText, string? ErrorCode)
{
    public string? Worker { get; init; }
    public int? RankBucket { get; init; }
    public DateTimeOffset? SubmittedAt { get; init; }
    /// <summary>StartedAt, CompletedAt or FailedAt: when the event happened on its worker.</summary>
    public DateTimeOffset? At { get; init; }
    public double? QueueMs { get; init; }
    public double? TtftMs { get; init; }
    public double? TpotMs { get; init; }
    public double? TotalMs { get; init; }
    public int? OutputTokens { get; init; }
    public string? AdapterSource { get; init; }
    public double? AdapterLoadMs { get; init; }
    /// <summary>When the tap received it (this process's clock).</summary>
    public DateTimeOffset Received { get; init; } = DateTimeOffset.UtcNow;
}

/// <summary>An AdapterPulled event: a worker got an adapter's bytes from a peer or the store.</summary>
internal sealed record TappedPull(string Worker, string AdapterId, string Source, long Bytes, double Ms, DateTimeOffset At);

/// <summary>
/// Every job event the workers publish, read the way any outside consumer would (docs/messages.md): a durable queue of the
/// drill's own bound to the event exchanges, so events published around a broker restart are kept. The last event of each
/// job is the state its history row must end in.
/// </summary>
internal sealed class EventTap : IAsyncDisposable
{
    public const string QueueName = "loraqueue-drill-events";
    private static readonly string[] Exchanges = ["LoRAQueue.Contracts:JobStarted", "LoRAQueue.Contracts:JobCompleted", "LoRAQueue.Contracts:JobFailed",
                                                  "LoRAQueue.Contracts:AdapterPulled"];

    private readonly IConnection _connection;
    private readonly IChannel _channel;

    private readonly string _queue;

    private EventTap(IConnection connection, IChannel channel, string queue)
    {
        _connection = connection;
        _channel = channel;
        _queue = queue;
    }

    /// <summary>Every AdapterPulled event, in arrival order.</summary>
    public ConcurrentQueue<TappedPull> Pulls { get; } = new();

    public ConcurrentDictionary<Guid, ConcurrentQueue<TappedEvent>> Events { get; } = new();

    public static async Task<EventTap> StartAsync(RabbitMqSettings settings, CancellationToken ct, string queueName = QueueName)
    {
        // Automatic recovery: survives the broker's restart (or its node's loss), queue and consumer included.
        var connection = await RabbitMqConnections.ConnectAsync(settings, "loraqueue-drill-tap", ct);
        var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        await channel.QueueDeclareAsync(queueName, durable: true, exclusive: false, autoDelete: false,
            arguments: QueueTopology.ForClient(new QueueTopology(settings).TerminalQueueArguments), cancellationToken: ct);
        await channel.QueuePurgeAsync(queueName, ct);
        foreach (var exchange in Exchanges)
        {
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, cancellationToken: ct);
            await channel.QueueBindAsync(queueName, exchange, "", cancellationToken: ct);
        }
        var tap = new EventTap(connection, channel, queueName);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            tap.Record(delivery.Body.Span);
            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
        };
        await channel.BasicConsumeAsync(queueName, autoAck: false, consumer, ct);
        return tap;
    }

    private void Record(ReadOnlySpan<byte> body)
    {
        var envelope = JsonNode.Parse(body);
        var message = envelope?["message"];
        string type = ((string?)envelope?["messageType"]?[0])?.Split(':')[^1] ?? "?";
        if (type == "AdapterPulled")
        {
            Pulls.Enqueue(new TappedPull((string?)message?["worker"] ?? "", (string?)message?["adapterId"] ?? "", (string?)message?["source"] ?? "",
                                         (long?)message?["bytes"] ?? 0, (double?)message?["ms"] ?? 0, Time(message?["at"]) ?? DateTimeOffset.UtcNow));
            return;
        }
        if (!Guid.TryParse((string?)message?["jobId"], out var jobId)) return;
        var timings = message?["timings"];
        var load = message?["adapterLoad"];
        Events.GetOrAdd(jobId, _ => new()).Enqueue(new TappedEvent(type, (string?)message?["prompt"], (string?)message?["outputText"],
                                                                   (string?)message?["reasonCode"])
        {
            Worker = (string?)message?["worker"],
            RankBucket = (int?)message?["rankBucket"],
            SubmittedAt = Time(message?["submittedAt"]),
            At = Time(message?["completedAt"] ?? message?["failedAt"] ?? message?["startedAt"]),
            QueueMs = (double?)timings?["queueMs"],
            TtftMs = (double?)timings?["ttftMs"],
            TpotMs = (double?)timings?["tpotMs"],
            TotalMs = (double?)timings?["totalMs"],
            OutputTokens = (int?)message?["outputTokens"],
            AdapterSource = (string?)load?["source"],
            AdapterLoadMs = (double?)load?["ms"],
        });
    }

    private static DateTimeOffset? Time(JsonNode? node) =>
        node is not null && DateTimeOffset.TryParse((string?)node, System.Globalization.CultureInfo.InvariantCulture,
                                                    System.Globalization.DateTimeStyles.RoundtripKind, out var t) ? t : null;

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _channel.QueueDeleteAsync(_queue);
        }
        catch (RabbitMQ.Client.Exceptions.RabbitMQClientException)
        {
            // The broker is gone (the drill failed mid-outage): the queue stays, and is purged by the next run.
        }
        await _channel.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
