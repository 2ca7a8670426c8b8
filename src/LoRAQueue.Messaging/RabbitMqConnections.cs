using RabbitMQ.Client;

namespace LoRAQueue.Messaging;

/// <summary>
/// The plain AMQP connections of the project's own helpers (the topology step, queue depths, dead letters, the drill): to
/// every configured node (<see cref="RabbitMqSettings.Nodes"/>), the first that answers, with the client's automatic
/// recovery — a connection whose node goes away reconnects to another, its channels, queues and consumers with it.
/// </summary>
public static class RabbitMqConnections
{
    public static ConnectionFactory Factory(RabbitMqSettings settings, string clientName)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var first = settings.Nodes[0];
        return new ConnectionFactory
        {
            HostName = first.Host,
            Port = first.Port,
            VirtualHost = settings.VirtualHost,
            UserName = settings.Username,
            Password = settings.Password,
            ClientProvidedName = clientName,
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = TimeSpan.FromSeconds(1),
            RequestedConnectionTimeout = TimeSpan.FromSeconds(10),
        };
    }

    /// <summary>Connects to the first node of <paramref name="settings"/> that answers (the client tries them in a shuffled
    /// order, and recovers onto any of them).</summary>
    public static Task<IConnection> ConnectAsync(RabbitMqSettings settings, string clientName, CancellationToken ct) =>
        ConnectAsync(Factory(settings, clientName), settings, ct);

    /// <summary>As <see cref="ConnectAsync(RabbitMqSettings, string, CancellationToken)"/> with a factory of <see cref="Factory"/>.</summary>
    public static Task<IConnection> ConnectAsync(ConnectionFactory factory, RabbitMqSettings settings, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(factory);
        ArgumentNullException.ThrowIfNull(settings);
        return factory.CreateConnectionAsync(settings.Nodes.Select(n => n.Endpoint).ToList(), factory.ClientProvidedName, ct);
    }
}
