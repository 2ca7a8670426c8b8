using System.Text.RegularExpressions;

namespace LoRAQueue.Integration.Tests;

/// <summary>
/// Creates and deletes virtual hosts with rabbitmqctl (the management HTTP API is not enabled), reaching the node that
/// scripts/services.sh started through what its env file records: the node name, its epmd port and the HOME that holds
/// its Erlang cookie. Each test gets a vhost of its own, so queues, messages and bindings never leak between tests.
/// </summary>
public sealed partial class RabbitMqAdmin
{
    private const string Rabbitmqctl = "/usr/lib/rabbitmq/bin/rabbitmqctl";
    private readonly string _node;
    private readonly Dictionary<string, string> _environment;

    private RabbitMqAdmin(string node, Dictionary<string, string> environment)
    {
        _node = node;
        _environment = environment;
    }

    public static RabbitMqAdmin FromServicesEnv(TestEnvironment env)
    {
        var file = env.ServicesEnvFile;
        if (!File.Exists(file))
            throw new InvalidOperationException($"no services env file at {file} (set LORAQUEUE_SERVICES_ENV): run scripts/test.sh or scripts/services.sh start");
        var values = ReadEnvFile(file);
        string Need(string key) => values.TryGetValue(key, out var v) && v.Length > 0
            ? v
            : throw new InvalidOperationException($"{file} has no {key}: restart the services with scripts/services.sh");
        return new RabbitMqAdmin(Need("RABBIT_NODE"), new Dictionary<string, string>
        {
            ["HOME"] = Need("RABBIT_DIR"), // the node's Erlang cookie lives there
            ["ERL_EPMD_PORT"] = Need("EPMD_PORT"),
            ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
        });
    }

    public async Task AddVirtualHostAsync(string vhost, string user)
    {
        await RunAsync("add_vhost", vhost);
        await RunAsync("set_permissions", "-p", vhost, user, ".*", ".*", ".*");
    }

    public Task DeleteVirtualHostAsync(string vhost) => RunAsync("delete_vhost", vhost);

    private async Task RunAsync(params string[] arguments) =>
        (await ChildProcess.RunAsync(Rabbitmqctl, ["-q", "-n", _node, .. arguments], TimeSpan.FromSeconds(30), _environment))
            .EnsureSuccess($"rabbitmqctl {string.Join(' ', arguments)}");

    /// <summary>Every KEY=value (or KEY='value') assignment in a scripts/services.sh env file.</summary>
    public static Dictionary<string, string> ReadEnvFile(string file)
    {
        var values = new Dictionary<string, string>();
        foreach (var line in File.ReadLines(file))
            foreach (Match m in Assignment().Matches(line))
                values[m.Groups["key"].Value] = m.Groups["quoted"].Success ? m.Groups["quoted"].Value : m.Groups["plain"].Value;
        return values;
    }

    [GeneratedRegex(@"(?<key>[A-Z_][A-Z0-9_]*)=(?:'(?<quoted>[^']*)'|(?<plain>[^\s']*))")]
    private static partial Regex Assignment();
}
