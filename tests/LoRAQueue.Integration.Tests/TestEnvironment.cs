namespace LoRAQueue.Integration.Tests;

/// <summary>The real servers the tests talk to, as scripts/services.sh describes them in its env file.</summary>
public sealed record TestEnvironment(string RabbitHost, int RabbitPort, string RabbitUser, string RabbitPassword,
                                     string PostgresConnectionString, string RepositoryRoot)
{
    private const string HowToRun =
        "The integration tests need RabbitMQ and Postgres started by the project: run scripts/test.sh, or " +
        "`scripts/services.sh start && source .cache/services/services.env` before `dotnet test`.";

    private static readonly Lazy<TestEnvironment> Current = new(Load);

    public static TestEnvironment Get() => Current.Value;

    private static TestEnvironment Load()
    {
        string Need(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v
            ? v
            : throw new InvalidOperationException($"environment variable {name} is not set. {HowToRun}");
        return new TestEnvironment(
            Need("LORAQUEUE__RABBITMQ__HOST"),
            int.Parse(Need("LORAQUEUE__RABBITMQ__PORT"), System.Globalization.CultureInfo.InvariantCulture),
            Need("LORAQUEUE__RABBITMQ__USERNAME"),
            Need("LORAQUEUE__RABBITMQ__PASSWORD"),
            Need("LORAQUEUE__POSTGRES__CONNECTIONSTRING"),
            FindRepositoryRoot())
        {
            RabbitHosts = Environment.GetEnvironmentVariable("LORAQUEUE__RABBITMQ__HOSTS") is { Length: > 0 } hosts ? hosts
                : $"{Environment.GetEnvironmentVariable("LORAQUEUE__RABBITMQ__HOST")}:{Environment.GetEnvironmentVariable("LORAQUEUE__RABBITMQ__PORT")}",
        };
    }

    /// <summary>Every RabbitMQ node (host:port,…): LORAQUEUE__RABBITMQ__HOSTS of a cluster, else the one node.</summary>
    public string RabbitHosts { get; init; } = $"{RabbitHost}:{RabbitPort.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>Where scripts/services.sh wrote its env file (it also records how to reach the RabbitMQ node).</summary>
    public string ServicesEnvFile { get; init; } = Environment.GetEnvironmentVariable("LORAQUEUE_SERVICES_ENV") is { Length: > 0 } path
        ? path
        : Path.Combine(RepositoryRoot, ".cache", "services", "services.env");

    /// <summary>The servers another `scripts/services.sh start` wrote to <paramref name="envFile"/> (a private set a test may stop).</summary>
    public static TestEnvironment FromServicesEnvFile(string envFile)
    {
        var values = RabbitMqAdmin.ReadEnvFile(envFile);
        string Need(string key) => values.TryGetValue(key, out var v) && v.Length > 0 ? v : throw new InvalidOperationException($"{envFile} has no {key}");
        return new TestEnvironment(Need("LORAQUEUE__RABBITMQ__HOST"),
            int.Parse(Need("LORAQUEUE__RABBITMQ__PORT"), System.Globalization.CultureInfo.InvariantCulture),
            Need("LORAQUEUE__RABBITMQ__USERNAME"), Need("LORAQUEUE__RABBITMQ__PASSWORD"),
            Need("LORAQUEUE__POSTGRES__CONNECTIONSTRING"), FindRepositoryRoot())
        {
            ServicesEnvFile = envFile,
            RabbitHosts = values.TryGetValue("LORAQUEUE__RABBITMQ__HOSTS", out var hosts) && hosts.Length > 0
                ? hosts : $"{Need("LORAQUEUE__RABBITMQ__HOST")}:{Need("LORAQUEUE__RABBITMQ__PORT")}",
        };
    }

    /// <summary>The worker built next to these tests (same configuration: Release or Debug).</summary>
    public string WorkerDll => HostDll("workers", "LoRAQueue.Worker");

    /// <summary>The scheduler built next to these tests.</summary>
    public string SchedulerDll => HostDll("scheduler", "LoRAQueue.Scheduler");

    /// <summary>The CLI (`loraqueue`) built next to these tests.</summary>
    public string CliDll => HostDll("src", "LoRAQueue.Cli", "loraqueue");

    private string HostDll(string folder, string project, string? assembly = null)
    {
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name; // bin/<Configuration>/net10.0
        var dll = Path.Combine(RepositoryRoot, folder, project, "bin", configuration, "net10.0", (assembly ?? project) + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException(
            $"{project} not built at {dll}: build tests/LoRAQueue.Integration.Tests (it builds the hosts first)", dll);
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LoRAQueue.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no LoRAQueue.sln above {AppContext.BaseDirectory}");
    }
}
