using MassTransit;

namespace LoRAQueue.Messaging;

/// <summary>
/// The one definition of how a rank queue is declared. RabbitMQ refuses a second declaration with other
/// arguments (406 PRECONDITION_FAILED), so the topology step and every receive endpoint use these values,
/// and producers send to the queue's exchange (<c>exchange:lora-rank-8</c>) rather than re-declaring the queue.
/// </summary>
public static class RankQueueTopology
{
    /// <summary>Fanout exchange + queue that receive messages the broker rejects or expires from a rank queue.</summary>
    public const string DeadLetterExchange = "lora-dead-letter";
    public const string DeadLetterQueue = "lora-dead-letter";

    /// <summary>Arguments of every rank queue (classic, durable).</summary>
    public static IReadOnlyDictionary<string, object> QueueArguments { get; } = new Dictionary<string, object>
    {
        ["x-dead-letter-exchange"] = DeadLetterExchange,
    };

    /// <summary>Applies the rank-queue declaration to a MassTransit RabbitMQ receive endpoint.</summary>
    public static void Apply(IRabbitMqReceiveEndpointConfigurator endpoint)
    {
        endpoint.Durable = true;
        endpoint.AutoDelete = false;
        endpoint.Exclusive = false;
        endpoint.ExchangeType = RabbitMQ.Client.ExchangeType.Fanout;
        foreach (var (key, value) in QueueArguments) endpoint.SetQueueArgument(key, value);
    }

    /// <summary>The send address a producer uses: the queue's own fanout exchange, declared identically.</summary>
    public static Uri SendAddress(string queueName) => new($"exchange:{queueName}");
}
