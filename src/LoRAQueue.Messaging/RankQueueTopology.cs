using MassTransit;

namespace LoRAQueue.Messaging;

/// <summary>
/// The names around a rank queue. How it is declared is <see cref="QueueTopology"/>: RabbitMQ refuses a second declaration
/// with other arguments (406 PRECONDITION_FAILED), so the topology step and every receive endpoint use the same one, and
/// producers send to the queue's exchange (<c>exchange:lora-rank-8</c>) rather than re-declaring the queue.
/// </summary>
public static class RankQueueTopology
{
    /// <summary>Fanout exchange + queue that receive what the broker dead-letters from the project's queues: messages
    /// rejected, expired, or (quorum queues) delivered more than the delivery limit without an ack.</summary>
    public const string DeadLetterExchange = "lora-dead-letter";
    public const string DeadLetterQueue = "lora-dead-letter";

    /// <summary>The send address a producer uses: the queue's own fanout exchange, declared identically.</summary>
    public static Uri SendAddress(string queueName) => new($"exchange:{queueName}");
}

/// <summary>
/// The one definition of how the project's durable queues are declared, used by every declarer: the topology step
/// (<see cref="RabbitMqRankQueueDeclarer"/>, plain AMQP), the workers' rank-queue receive endpoints, the receive endpoints
/// ConfigureEndpoints creates (job-history, webhook-deliveries, gateway-metrics — and MassTransit copies an endpoint's queue
/// arguments to its <c>_error</c> and <c>_skipped</c> queues), the dead-letter queue, and the drill's event tap.
/// <para><b>quorum</b> (<see cref="RabbitMqSettings.QueueType"/>, the default): every durable queue is a quorum queue
/// (replicated on every node of a cluster; on one node it works the same), with <c>x-delivery-limit</c> and dead-lettering
/// to <see cref="RankQueueTopology.DeadLetterExchange"/> at least once (<c>x-dead-letter-strategy=at-least-once</c>, which
/// needs <c>x-overflow=reject-publish</c>); the dead-letter queue is a quorum queue with neither.</para>
/// <para><b>classic</b>: the declarations from before clusters, exactly — rank queues with the dead-letter exchange, other
/// endpoints with no arguments — for a broker that already holds them as classic queues.</para>
/// Queues that are meant to vanish (the bus's temporary reply queue, each worker's placement queue: non-durable,
/// auto-delete) stay classic: quorum queues cannot be either. No queue of the project uses priorities.
/// </summary>
public sealed class QueueTopology
{
    public const string QueueTypeArgument = "x-queue-type";
    public const string DeliveryLimitArgument = "x-delivery-limit";
    public const string DeadLetterExchangeArgument = "x-dead-letter-exchange";
    public const string DeadLetterStrategyArgument = "x-dead-letter-strategy";
    public const string OverflowArgument = "x-overflow";

    public QueueTopology(RabbitMqSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Kind = settings.QueueKind;
        DeliveryLimit = settings.DeliveryLimit;
        if (Kind == RabbitQueueType.Quorum)
        {
            var consumer = new Dictionary<string, object>
            {
                [QueueTypeArgument] = "quorum",
                [DeliveryLimitArgument] = DeliveryLimit,
                [DeadLetterExchangeArgument] = RankQueueTopology.DeadLetterExchange,
                [DeadLetterStrategyArgument] = "at-least-once",
                [OverflowArgument] = "reject-publish",
            };
            RankQueueArguments = consumer;
            EndpointQueueArguments = consumer;
            TerminalQueueArguments = new Dictionary<string, object> { [QueueTypeArgument] = "quorum" };
        }
        else
        {
            RankQueueArguments = new Dictionary<string, object> { [DeadLetterExchangeArgument] = RankQueueTopology.DeadLetterExchange };
            EndpointQueueArguments = new Dictionary<string, object>();
            TerminalQueueArguments = new Dictionary<string, object>();
        }
    }

    public RabbitQueueType Kind { get; }
    public int DeliveryLimit { get; }

    /// <summary>Arguments of every rank queue (durable; with a same-named durable fanout exchange bound to it).</summary>
    public IReadOnlyDictionary<string, object> RankQueueArguments { get; }

    /// <summary>Arguments of the other durable receive endpoints (job-history, webhook-deliveries, gateway-metrics, …).</summary>
    public IReadOnlyDictionary<string, object> EndpointQueueArguments { get; }

    /// <summary>Arguments of durable queues nothing is dead-lettered from: the dead-letter queue itself, the drill's tap.</summary>
    public IReadOnlyDictionary<string, object> TerminalQueueArguments { get; }

    /// <summary>Declares a rank queue on a MassTransit RabbitMQ receive endpoint as the topology step declares it.</summary>
    public void ApplyRankQueue(IRabbitMqReceiveEndpointConfigurator endpoint) => Apply(endpoint, RankQueueArguments);

    /// <summary>Declares a durable receive endpoint's queue (ConfigureEndpoints' endpoints).</summary>
    public void ApplyEndpoint(IRabbitMqReceiveEndpointConfigurator endpoint) => Apply(endpoint, EndpointQueueArguments);

    private static void Apply(IRabbitMqReceiveEndpointConfigurator endpoint, IReadOnlyDictionary<string, object> arguments)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        endpoint.Durable = true;
        endpoint.AutoDelete = false;
        endpoint.Exclusive = false;
        endpoint.ExchangeType = RabbitMQ.Client.ExchangeType.Fanout;
        foreach (var (key, value) in arguments) endpoint.SetQueueArgument(key, value);
    }

    /// <summary>The arguments as RabbitMQ.Client takes them.</summary>
    public static Dictionary<string, object?> ForClient(IReadOnlyDictionary<string, object> arguments) =>
        arguments.ToDictionary(kv => kv.Key, kv => (object?)kv.Value);
}
