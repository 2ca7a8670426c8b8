using System.Text.RegularExpressions;
using Xunit;

namespace LoRAQueue.Testing;

/// <summary>One RabbitMQ node of a <see cref="RabbitMqCluster"/>: its number (1…N), node name and AMQP address.</summary>
public sealed record RabbitMqClusterNode(int Number, string Name, string Address)
{
    /// <summary>Parses a line of `services.sh kill|leader|nodes`: "k name 127.0.0.1:port [state]".</summary>
    public static RabbitMqClusterNode Parse(string line)
    {
        var parts = line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 3 || !int.TryParse(parts[0], out int number))
            throw new FormatException($"not a services.sh node line: '{line}'");
        return new RabbitMqClusterNode(number, parts[1], parts[2]);
    }
}

/// <summary>
/// A RabbitMQ cluster of its own (with a Redis and Postgres, as scripts/services.sh starts them): `services.sh start
/// --rabbitmq-nodes N` with a private env file, so tests may SIGKILL nodes without touching the servers of other tests or
/// other engineers. Stopped, every node, on dispose. Per-test isolation: a virtual host each (<see cref="AddVirtualHostAsync"/>).
/// </summary>
public class RabbitMqCluster : IAsyncLifetime
{
    private const string Rabbitmqctl = "/usr/lib/rabbitmq/bin/rabbitmqctl";
    private readonly string _directory = Directory.CreateTempSubdirectory("loraqueue-cluster-").FullName;
    private Dictionary<string, string>? _values;

    public RabbitMqCluster() : this(3) { }

    protected RabbitMqCluster(int nodes) => NodeCount = nodes;

    public int NodeCount { get; }
    public string EnvFile => Path.Combine(_directory, "services.env");
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>Every node as host:port, comma-separated (LORAQUEUE__RABBITMQ__HOSTS).</summary>
    public string Hosts => Value("LORAQUEUE__RABBITMQ__HOSTS");
    public string Username => Value("LORAQUEUE__RABBITMQ__USERNAME");
    public string Password => Value("LORAQUEUE__RABBITMQ__PASSWORD");

    /// <summary>The nodes as started (node 1 first).</summary>
    public IReadOnlyList<RabbitMqClusterNode> Nodes
    {
        get
        {
            var names = Value("RABBIT_NODES").Split(' ');
            var ports = Value("RABBIT_PORTS").Split(' ');
            return [.. names.Select((name, i) => new RabbitMqClusterNode(i + 1, name, "127.0.0.1:" + ports[i]))];
        }
    }

    public async Task InitializeAsync()
    {
        await ServicesAsync("start", "--rabbitmq-nodes", NodeCount.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _values = ReadEnvFile(EnvFile);
    }

    public async Task DisposeAsync()
    {
        try { await ServicesAsync("stop"); }
        finally { try { Directory.Delete(_directory, recursive: true); } catch (IOException) { } }
    }

    /// <summary>SIGKILLs a node: "2", a node name, or "leader:QUEUE@VHOST" (the node leading that quorum queue now).</summary>
    public async Task<RabbitMqClusterNode> KillAsync(string node) =>
        RabbitMqClusterNode.Parse((await ServicesAsync("kill", "rabbitmq", node)).Stdout);

    /// <summary>Starts a killed node again (it rejoins the cluster); waits until it takes AMQP connections.</summary>
    public Task UpAsync(RabbitMqClusterNode node) => ServicesAsync("up", "rabbitmq", node.Number.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The node leading quorum queue <paramref name="queue"/> in <paramref name="vhost"/> now.</summary>
    public async Task<RabbitMqClusterNode> LeaderAsync(string queue, string vhost) =>
        RabbitMqClusterNode.Parse((await ServicesAsync("leader", queue, vhost)).Stdout);

    /// <summary>Every node and its state (up, app-stopped, dead).</summary>
    public async Task<IReadOnlyList<(RabbitMqClusterNode Node, string State)>> NodeStatesAsync() =>
        [.. (await ServicesAsync("nodes")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => (RabbitMqClusterNode.Parse(line), line.Trim().Split(' ')[^1]))];

    public async Task AddVirtualHostAsync(string vhost)
    {
        await CtlAsync("add_vhost", vhost);
        await CtlAsync("set_permissions", "-p", vhost, Username, ".*", ".*", ".*");
    }

    public Task DeleteVirtualHostAsync(string vhost) => CtlAsync("delete_vhost", vhost);

    /// <summary>Rows of `rabbitmqctl list_queues -p VHOST ITEMS…` (tab-separated columns), asked of a running node.</summary>
    public async Task<IReadOnlyList<string[]>> ListQueuesAsync(string vhost, params string[] items) =>
        Rows(await CtlAsync(["list_queues", "-p", vhost, .. items, "--no-table-headers"]));

    /// <summary>Rows of `rabbitmqctl list_connections ITEMS…`, asked of a running node.</summary>
    public async Task<IReadOnlyList<string[]>> ListConnectionsAsync(params string[] items) =>
        Rows(await CtlAsync(["list_connections", .. items, "--no-table-headers"]));

    /// <summary>rabbitmqctl against the first node that is up (node names, epmd port and cookie from the env file).</summary>
    public async Task<string> CtlAsync(params string[] arguments)
    {
        var states = await NodeStatesAsync();
        var up = states.FirstOrDefault(s => s.State == "up").Node
                 ?? throw new InvalidOperationException("no rabbitmq node of the cluster is up");
        var dirs = Value("RABBIT_DIRS").Split(' ');
        var environment = new Dictionary<string, string>
        {
            ["HOME"] = dirs[up.Number - 1], // that node's copy of the cluster's Erlang cookie
            ["ERL_EPMD_PORT"] = Value("EPMD_PORT"),
            ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
        };
        var result = (await ChildProcess.RunAsync(Rabbitmqctl, ["-q", "-n", up.Name, .. arguments], TimeSpan.FromSeconds(60), environment))
            .EnsureSuccess($"rabbitmqctl {string.Join(' ', arguments)}");
        return result.Stdout;
    }

    private static List<string[]> Rows(string output) =>
        [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.TrimEnd('\r').Split('\t'))];

    private string Value(string key) =>
        (_values ?? throw new InvalidOperationException("the cluster is not started")).TryGetValue(key, out var v) && v.Length > 0
            ? v : throw new InvalidOperationException($"{EnvFile} has no {key}");

    private async Task<ProcessResult> ServicesAsync(params string[] arguments) =>
        (await ChildProcess.RunAsync("bash", [Path.Combine(RepositoryRoot, "scripts", "services.sh"), .. arguments], TimeSpan.FromMinutes(4),
                                     new Dictionary<string, string> { ["LORAQUEUE_SERVICES_ENV"] = EnvFile }, RepositoryRoot))
        .EnsureSuccess($"scripts/services.sh {string.Join(' ', arguments)}");

    /// <summary>Every KEY=value (or KEY='value') assignment in a scripts/services.sh env file.</summary>
    public static Dictionary<string, string> ReadEnvFile(string file)
    {
        var values = new Dictionary<string, string>();
        foreach (var line in File.ReadLines(file))
            foreach (Match m in Regex.Matches(line, @"(?<key>[A-Z_][A-Z0-9_]*)=(?:'(?<quoted>[^']*)'|(?<plain>[^\s']*))"))
                values[m.Groups["key"].Value] = m.Groups["quoted"].Success ? m.Groups["quoted"].Value : m.Groups["plain"].Value;
        return values;
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LoRAQueue.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no LoRAQueue.sln above {AppContext.BaseDirectory}");
    }
}
