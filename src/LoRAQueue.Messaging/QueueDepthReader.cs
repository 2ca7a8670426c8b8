using LoRAQueue.Core;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace LoRAQueue.Messaging;

/// <summary>Reads how many messages wait, not yet delivered, in each rank queue.</summary>
public interface IQueueDepthReader
{
    /// <summary>Queue name → ready messages, for every rank queue of the configured buckets that exists.
    /// Queues that do not exist yet are left out. Throws when the broker cannot be reached.</summary>
    Task<IReadOnlyDictionary<string, long>> ReadAsync(CancellationToken ct);
}

/// <summary>
/// Depths through passive queue declarations on one long-lived AMQP connection (no management plugin needed).
/// A passive declare of a missing queue closes the channel, so each missing queue costs a new channel; the
/// connection is re-created after the broker goes away.
/// </summary>
public sealed class RabbitMqQueueDepthReader(RabbitMqSettings settings, RankBuckets buckets, ILogger<RabbitMqQueueDepthReader> logger)
    : IQueueDepthReader, IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;
    private IChannel? _channel;

    public async Task<IReadOnlyDictionary<string, long>> ReadAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var depths = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var queue in buckets.AllQueueNames())
            {
                var channel = await OpenChannelAsync(ct).ConfigureAwait(false);
                try
                {
                    var ok = await channel.QueueDeclarePassiveAsync(queue, ct).ConfigureAwait(false);
                    depths[queue] = ok.MessageCount;
                }
                catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
                {
                    logger.LogDebug("Queue {Queue} does not exist yet", queue);
                    await CloseChannelAsync().ConfigureAwait(false);
                }
            }
            return depths;
        }
        catch (Exception e) when (e is BrokerUnreachableException or AlreadyClosedException or OperationInterruptedException)
        {
            await ResetAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<IChannel> OpenChannelAsync(CancellationToken ct)
    {
        if (_connection is not { IsOpen: true })
        {
            await ResetAsync().ConfigureAwait(false);
            _connection = await RabbitMqConnections.ConnectAsync(settings, "loraqueue-queue-depth", ct).ConfigureAwait(false);
        }
        if (_channel is not { IsOpen: true })
            _channel = await _connection.CreateChannelAsync(cancellationToken: ct).ConfigureAwait(false);
        return _channel;
    }

    private async Task CloseChannelAsync()
    {
        if (_channel is null) return;
        try { await _channel.DisposeAsync().ConfigureAwait(false); }
        catch (Exception e) when (e is AlreadyClosedException or OperationInterruptedException or ObjectDisposedException) { }
        _channel = null;
    }

    private async Task ResetAsync()
    {
        await CloseChannelAsync().ConfigureAwait(false);
        if (_connection is null) return;
        try { await _connection.DisposeAsync().ConfigureAwait(false); }
        catch (Exception e) when (e is AlreadyClosedException or OperationInterruptedException or ObjectDisposedException) { }
        _connection = null;
    }

    public async ValueTask DisposeAsync()
    {
        await ResetAsync().ConfigureAwait(false);
        _gate.Dispose();
    }
}

/// <summary>The in-memory transport keeps no broker-side counts to read.</summary>
public sealed class InMemoryQueueDepthReader : IQueueDepthReader
{
    public Task<IReadOnlyDictionary<string, long>> ReadAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyDictionary<string, long>>(new Dictionary<string, long>());
}
