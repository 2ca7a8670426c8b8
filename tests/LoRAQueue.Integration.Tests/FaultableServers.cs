namespace LoRAQueue.Integration.Tests;

/// <summary>
/// A RabbitMQ, Redis and Postgres of the fault tests' own (`scripts/services.sh start` with a private env file), so a test can
/// stop one (`services.sh down`) and start it again (`up`) without pulling the servers from under every other test project.
/// </summary>
public sealed class FaultableServers : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("loraqueue-faults-").FullName;
    private TestEnvironment? _environment;

    public string EnvFile => Path.Combine(_directory, "services.env");

    public TestEnvironment Environment => _environment ?? throw new InvalidOperationException("the servers are not started");

    public async Task InitializeAsync()
    {
        await ServicesAsync("start");
        _environment = TestEnvironment.FromServicesEnvFile(EnvFile);
    }

    /// <summary>Stops "postgres" or "rabbitmq" the way an outage does: connections refused until <see cref="UpAsync"/>.</summary>
    public Task DownAsync(string service) => ServicesAsync("down", service);

    public Task UpAsync(string service) => ServicesAsync("up", service);

    public async Task DisposeAsync()
    {
        await ServicesAsync("stop");
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    private async Task ServicesAsync(params string[] arguments)
    {
        var root = TestEnvironment.Get().RepositoryRoot;
        (await ChildProcess.RunAsync("bash", [Path.Combine(root, "scripts", "services.sh"), .. arguments], TimeSpan.FromMinutes(2),
                                     new Dictionary<string, string> { ["LORAQUEUE_SERVICES_ENV"] = EnvFile }, root))
            .EnsureSuccess($"scripts/services.sh {string.Join(' ', arguments)}");
    }
}

/// <summary>Tests that stop servers: one at a time, on <see cref="FaultableServers"/>, after the other collections.</summary>
[CollectionDefinition(Name)]
public sealed class FaultCollection : ICollectionFixture<ModelFiles>, ICollectionFixture<FaultableServers>
{
    public const string Name = "faults";
}
