using System.Globalization;
using LoRAQueue.Hosting;
using RabbitMQ.Client;

namespace LoRAQueue.Messaging;

/// <summary>How the project declares its durable queues (<see cref="QueueTopology"/>).</summary>
public enum RabbitQueueType { Quorum, Classic }

/// <summary>One broker node to connect to.</summary>
public sealed record RabbitMqNode(string Host, int Port)
{
    public AmqpTcpEndpoint Endpoint => new(Host, Port);

    public override string ToString() => $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>LoRAQueue:RabbitMq:* — where the broker's nodes are, how the project's queues are declared, and how much each
/// consumer may prefetch by default. Bound and validated by <see cref="SectionOptions"/>.</summary>
public sealed record RabbitMqSettings : ISectionOptions
{
    public static string Section => "LoRAQueue:RabbitMq";

    /// <summary>The one node when <see cref="Hosts"/> is empty.</summary>
    public string Host { get; init; } = "localhost";
    public int Port { get; init; } = 5672;

    /// <summary>Every node of a cluster, comma-separated: <c>host:port,host:port,…</c> (a node without a port uses
    /// <see cref="Port"/>). When set it replaces <see cref="Host"/>; clients connect to the first node that answers and
    /// reconnect to another when theirs goes away.</summary>
    public string? Hosts { get; init; }

    public string VirtualHost { get; init; } = "/";
    public string Username { get; init; } = "guest";
    public string Password { get; init; } = "guest";
    public int PrefetchCount { get; init; } = 16;

    /// <summary><c>quorum</c> (default): every durable queue of the project is a replicated quorum queue with a delivery
    /// limit and at-least-once dead-lettering; <c>classic</c>: the declarations from before clusters, for a broker that
    /// already holds those queues as classic ones (RabbitMQ refuses to redeclare a queue with another type).</summary>
    public string QueueType { get; init; } = "quorum";

    /// <summary>Quorum queues: deliveries of one message that may end without an ack (a consumer crashed, its channel
    /// closed, a nack with requeue) before the broker dead-letters it to <see cref="RankQueueTopology.DeadLetterQueue"/>.</summary>
    public int DeliveryLimit { get; init; } = 5;

    public RabbitQueueType QueueKind => QueueType.Trim().ToLowerInvariant() switch
    {
        "classic" => RabbitQueueType.Classic,
        _ => RabbitQueueType.Quorum,
    };

    /// <summary>The nodes to connect to, in the configured order: <see cref="Hosts"/>, or <see cref="Host"/>:<see cref="Port"/>.
    /// Throws <see cref="FormatException"/> on a bad list (<see cref="Problems"/> reports the same at start-up).</summary>
    public IReadOnlyList<RabbitMqNode> Nodes
    {
        get
        {
            var (nodes, problems) = ParseNodes();
            return problems.Count == 0 ? nodes : throw new FormatException(string.Join("; ", problems));
        }
    }

    public IEnumerable<string> Problems()
    {
        foreach (var (key, value) in new[] { (nameof(VirtualHost), VirtualHost), (nameof(Username), Username) })
            if (string.IsNullOrWhiteSpace(value)) yield return $"{Section}:{key} must not be empty";
        if (string.IsNullOrWhiteSpace(Hosts) && string.IsNullOrWhiteSpace(Host)) yield return $"{Section}:Host must not be empty";
        if (Port is < 1 or > ushort.MaxValue) yield return $"{Section}:Port must be a TCP port, 1 to 65535 (got {Port})";
        foreach (var p in ParseNodes().Problems) yield return p;
        foreach (var p in OptionChecks.OneOf(Section, nameof(QueueType), QueueType, ["quorum", "classic"])) yield return p;
        foreach (var p in OptionChecks.AtLeast(Section, nameof(DeliveryLimit), DeliveryLimit, 1)) yield return p;
        foreach (var p in OptionChecks.AtLeast(Section, nameof(PrefetchCount), PrefetchCount, 1)) yield return p;
    }

    private (List<RabbitMqNode> Nodes, List<string> Problems) ParseNodes()
    {
        var nodes = new List<RabbitMqNode>();
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Hosts))
        {
            if (!string.IsNullOrWhiteSpace(Host)) nodes.Add(new RabbitMqNode(Host.Trim(), Port));
            return (nodes, problems);
        }
        const string expected = "expected host:port entries separated by commas, e.g. 10.0.0.1:5672,10.0.0.2:5672";
        foreach (var raw in Hosts.Split(','))
        {
            var entry = raw.Trim();
            string host = entry;
            int port = Port;
            if (entry.Length == 0)
            {
                problems.Add($"{Section}:Hosts has an empty entry in '{Hosts}' ({expected})");
                continue;
            }
            if (entry.Contains("://", StringComparison.Ordinal))
            {
                problems.Add($"{Section}:Hosts entry '{entry}' is a URI; {expected}");
                continue;
            }
            int colon = entry.IndexOf(':');
            if (colon >= 0)
            {
                if (entry.LastIndexOf(':') != colon)
                {
                    problems.Add($"{Section}:Hosts entry '{entry}' has more than one ':' (for an IPv6 node use a host name); {expected}");
                    continue;
                }
                host = entry[..colon];
                if (!TryPort(entry[(colon + 1)..], out port))
                {
                    problems.Add($"{Section}:Hosts entry '{entry}' has no valid port (1 to 65535); {expected}");
                    continue;
                }
            }
            if (host.Length == 0 || host.Any(char.IsWhiteSpace))
            {
                problems.Add($"{Section}:Hosts entry '{entry}' has no host name; {expected}");
                continue;
            }
            var node = new RabbitMqNode(host, port);
            if (nodes.Contains(node)) problems.Add($"{Section}:Hosts names {node} twice");
            else nodes.Add(node);
        }
        return (nodes, problems);
    }

    private static bool TryPort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= ushort.MaxValue;

    public override string ToString()
    {
        var (nodes, _) = ParseNodes();
        return $"amqp://{Username}@{string.Join(",", nodes)}/{Uri.EscapeDataString(VirtualHost)} ({QueueType} queues)";
    }
}
