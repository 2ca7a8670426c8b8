using System.Collections.Concurrent;
using LoRAQueue.Core;
using MassTransit;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace LoRAQueue.Messaging;

/// <summary>
/// The topology step: declares, with a plain AMQP connection, each rank queue exactly as the workers' receive endpoints
/// declare it (durable queue + same-named durable fanout exchange bound to it, <see cref="QueueTopology.RankQueueArguments"/>),
/// and the dead-letter exchange and queue those arguments point to. Every declaration is idempotent. The receive endpoints
/// take their declaration from <see cref="ConfigureEndpoint"/>, the same <see cref="QueueTopology"/>.
/// </summary>
public sealed class RabbitMqRankQueueDeclarer(RabbitMqSettings settings, QueueTopology topology, RankBuckets buckets,
                                              ILogger<RabbitMqRankQueueDeclarer> logger)
    : IRankQueueDeclarer
{
    private readonly ConcurrentDictionary<string, bool> _declared = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);

    public RabbitMqRankQueueDeclarer(RabbitMqSettings settings, RankBuckets buckets, ILogger<RabbitMqRankQueueDeclarer> logger)
        : this(settings, new QueueTopology(settings), buckets, logger)
    {
    }

    public QueueTopology Topology => topology;

    public Task DeclareAllAsync(CancellationToken ct) => DeclareAsync(buckets.AllQueueNames(), force: true, ct);

    public Task EnsureQueueAsync(string queueName, CancellationToken ct)
    {
        RankBuckets.ParseQueueName(queueName); // only rank queues are declared here
        return _declared.ContainsKey(queueName) ? Task.CompletedTask : DeclareAsync([queueName], force: false, ct);
    }

    public void ConfigureEndpoint(IReceiveEndpointConfigurator endpoint)
    {
        if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit) topology.ApplyRankQueue(rabbit);
    }

    private async Task DeclareAsync(IReadOnlyList<string> queueNames, bool force, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var missing = force ? queueNames : queueNames.Where(q => !_declared.ContainsKey(q)).ToList();
            if (missing.Count == 0) return;
            await using var connection = await RabbitMqConnections.ConnectAsync(settings, "loraqueue-topology", ct).ConfigureAwait(false);
            await using var channel = await connection.CreateChannelAsync(cancellationToken: ct).ConfigureAwait(false);

            await channel.ExchangeDeclareAsync(RankQueueTopology.DeadLetterExchange, ExchangeType.Fanout, durable: true, autoDelete: false,
                cancellationToken: ct).ConfigureAwait(false);
            await channel.QueueDeclareAsync(RankQueueTopology.DeadLetterQueue, durable: true, exclusive: false, autoDelete: false,
                arguments: QueueTopology.ForClient(topology.TerminalQueueArguments), cancellationToken: ct).ConfigureAwait(false);
            await channel.QueueBindAsync(RankQueueTopology.DeadLetterQueue, RankQueueTopology.DeadLetterExchange, "",
                cancellationToken: ct).ConfigureAwait(false);

            var arguments = QueueTopology.ForClient(topology.RankQueueArguments);
            foreach (var queue in missing)
            {
                await channel.ExchangeDeclareAsync(queue, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct)
                    .ConfigureAwait(false);
                await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments: arguments,
                    cancellationToken: ct).ConfigureAwait(false);
                await channel.QueueBindAsync(queue, queue, "", cancellationToken: ct).ConfigureAwait(false);
                _declared[queue] = true;
            }
            logger.LogInformation("Declared rank queues {Queues} on {Broker}", string.Join(", ", missing), settings);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 406)
        {
            throw new InvalidOperationException(
                $"the broker holds a rank queue declared otherwise ({e.ShutdownReason.ReplyText}); LoRAQueue:RabbitMq:QueueType is " +
                $"'{settings.QueueType}': set it to what the broker holds (classic for queues from before clusters), or delete the " +
                "queues and let them be declared again (docs/messages.md, Queues)", e);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A connection factory for the first configured node. Connect with
    /// <see cref="RabbitMqConnections.ConnectAsync(ConnectionFactory, RabbitMqSettings, CancellationToken)"/> to reach any node.</summary>
    public static ConnectionFactory CreateConnectionFactory(RabbitMqSettings settings, string clientName) =>
        RabbitMqConnections.Factory(settings, clientName);
}
