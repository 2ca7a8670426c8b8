using System.Collections.Concurrent;
using LoRAQueue.Core;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace LoRAQueue.Messaging;

/// <summary>
/// The topology step: declares, with a plain AMQP connection, each rank queue exactly as MassTransit's receive
/// endpoints declare it (durable queue + same-named durable fanout exchange bound to it, <see cref="RankQueueTopology.QueueArguments"/>),
/// and the dead-letter exchange and queue those arguments point to. Every declaration is idempotent.
/// </summary>
public sealed class RabbitMqRankQueueDeclarer(RabbitMqSettings settings, RankBuckets buckets, ILogger<RabbitMqRankQueueDeclarer> logger)
    : IRankQueueDeclarer
{
    private readonly ConcurrentDictionary<string, bool> _declared = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);

    public Task DeclareAllAsync(CancellationToken ct) => DeclareAsync(buckets.AllQueueNames(), force: true, ct);

    public Task EnsureQueueAsync(string queueName, CancellationToken ct)
    {
        RankBuckets.ParseQueueName(queueName); // only rank queues are declared here
        return _declared.ContainsKey(queueName) ? Task.CompletedTask : DeclareAsync([queueName], force: false, ct);
    }

    private async Task DeclareAsync(IReadOnlyList<string> queueNames, bool force, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var missing = force ? queueNames : queueNames.Where(q => !_declared.ContainsKey(q)).ToList();
            if (missing.Count == 0) return;
            await using var connection = await CreateConnectionFactory(settings, "loraqueue-topology")
                .CreateConnectionAsync(ct).ConfigureAwait(false);
            await using var channel = await connection.CreateChannelAsync(cancellationToken: ct).ConfigureAwait(false);

            await channel.ExchangeDeclareAsync(RankQueueTopology.DeadLetterExchange, ExchangeType.Fanout, durable: true, autoDelete: false,
                cancellationToken: ct).ConfigureAwait(false);
            await channel.QueueDeclareAsync(RankQueueTopology.DeadLetterQueue, durable: true, exclusive: false, autoDelete: false,
                cancellationToken: ct).ConfigureAwait(false);
            await channel.QueueBindAsync(RankQueueTopology.DeadLetterQueue, RankQueueTopology.DeadLetterExchange, "",
                cancellationToken: ct).ConfigureAwait(false);

            var arguments = RankQueueTopology.QueueArguments.ToDictionary(kv => kv.Key, kv => (object?)kv.Value);
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
        finally
        {
            _gate.Release();
        }
    }

    public static ConnectionFactory CreateConnectionFactory(RabbitMqSettings settings, string clientName) => new()
    {
        HostName = settings.Host,
        Port = settings.Port,
        VirtualHost = settings.VirtualHost,
        UserName = settings.Username,
        Password = settings.Password,
        ClientProvidedName = clientName,
    };
}
