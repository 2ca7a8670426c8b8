using System.Text;
using LoRAQueue.Admission;
using LoRAQueue.Contracts;
using LoRAQueue.Core;
using LoRAQueue.History;
using LoRAQueue.Messaging;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RabbitMQ.Client;

namespace LoRAQueue.Integration.Tests;

/// <summary>
/// One test's slice of the real infrastructure: a fresh RabbitMQ virtual host, a fresh migrated Postgres database with the
/// three adapters registered, a .NET producer (MassTransit bus + JobIntake), a plain AMQP connection for raw producers
/// and queue inspection, and the worker processes the test starts. Disposing removes all of it.
/// </summary>
public sealed class Pipeline : IAsyncDisposable
{
    public const string Tenant = "acme";

    private readonly List<WorkerProcess> _workers = [];
    private ServiceProvider? _producer;
    private IConnection? _amqp;

    private Pipeline(TestEnvironment env, ModelFiles files, string virtualHost, string database, string connectionString)
    {
        ConnectionString = connectionString;
        var dataSource = NpgsqlDataSource.Create(connectionString);
        Env = env;
        Files = files;
        VirtualHost = virtualHost;
        Database = database;
        DataSource = dataSource;
        History = new PostgresJobHistory(dataSource);
        Registry = new PostgresAdapterRegistry(dataSource, AdapterValidator.ForModelDirectory(files.AdapterStorePath, files.ModelPath));
    }

    public TestEnvironment Env { get; }
    public ModelFiles Files { get; }
    public string VirtualHost { get; }
    public string Database { get; }
    public NpgsqlDataSource DataSource { get; }
    public IJobHistory History { get; }
    public IAdapterRegistry Registry { get; }
    /// <summary>The .NET producer: admission (the same rules as the gateway) → rank queue → history.</summary>
    public JobIntake Intake => _producer!.GetRequiredService<JobIntake>();
    public IBus Bus => _producer!.GetRequiredService<IBus>();
    public IConnection Amqp => _amqp!;
    public IReadOnlyList<WorkerProcess> Workers => _workers;

    public RedisServer? Redis { get; private init; }

    /// <summary>This test's database, with the password (the data source's own string drops it).</summary>
    public string ConnectionString { get; }

    /// <param name="configureBus">Consumers for the test process's own bus (the producer side).</param>
    /// <param name="services">Services those consumers need.</param>
    /// <param name="redis">The Redis the workers (and schedulers) report to; none by default.</param>
    /// <param name="servers">The RabbitMQ and Postgres to use; those of scripts/test.sh by default.</param>
    public static async Task<Pipeline> CreateAsync(ModelFiles files, Action<IBusRegistrationConfigurator>? configureBus = null,
                                                   Action<IServiceCollection>? services = null, RedisServer? redis = null,
                                                   TestEnvironment? servers = null)
    {
        var env = servers ?? TestEnvironment.Get();
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var vhost = $"lq-test-{suffix}";
        await RabbitMqAdmin.FromServicesEnv(env).AddVirtualHostAsync(vhost, env.RabbitUser);

        var database = $"lq_test_{suffix}";
        await using (var admin = NpgsqlDataSource.Create(env.PostgresConnectionString))
        await using (var create = admin.CreateCommand($"CREATE DATABASE \"{database}\""))
            await create.ExecuteNonQueryAsync();
        var connectionString = new NpgsqlConnectionStringBuilder(env.PostgresConnectionString) { Database = database }.ConnectionString;
        DatabaseMigrator.Migrate(connectionString);

        var pipeline = new Pipeline(env, files, vhost, database, connectionString) { Redis = redis };
        foreach (var id in ModelFiles.AdapterRanks.Keys)
            await pipeline.Registry.RegisterAsync(id, Tenant, CancellationToken.None);
        await pipeline.StartProducerAsync(configureBus, services);
        return pipeline;
    }

    private async Task StartProducerAsync(Action<IBusRegistrationConfigurator>? configureBus, Action<IServiceCollection>? configureServices)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(ServiceConfiguration()).Build();
        var services = new ServiceCollection();
        configureServices?.Invoke(services);
        services.AddLogging();
        services.AddSingleton(History);
        services.AddSingleton(Registry);
        services.AddLoRAQueueBus(configuration, configureBus);
        services.AddJobIntake(Files.ModelPath, 4096);
        _producer = services.BuildServiceProvider();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _producer.GetRequiredService<IBusControl>().StartAsync(timeout.Token);

        _amqp = await RabbitMqConnections.ConnectAsync(_producer.GetRequiredService<RabbitMqSettings>(), "loraqueue-tests", CancellationToken.None);
    }

    /// <summary>The topology step: declares every rank queue (and the dead-letter queue) on this test's vhost.</summary>
    public Task DeclareTopologyAsync() => _producer!.GetRequiredService<IRankQueueDeclarer>().DeclareAllAsync(CancellationToken.None);

    /// <summary>Configuration shared by the producer and every worker: transport, broker (this test's vhost) and database.</summary>
    private Dictionary<string, string?> ServiceConfiguration() => new()
    {
        ["LoRAQueue:Redis:Configuration"] = Redis?.Configuration,
        ["LoRAQueue:Transport"] = "rabbitmq",
        ["LoRAQueue:RabbitMq:Host"] = Env.RabbitHost,
        ["LoRAQueue:RabbitMq:Port"] = Env.RabbitPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        // Always set: a child process would otherwise inherit LORAQUEUE__RABBITMQ__HOSTS of the suite's servers.
        ["LoRAQueue:RabbitMq:Hosts"] = Env.RabbitHosts,
        ["LoRAQueue:RabbitMq:VirtualHost"] = VirtualHost,
        ["LoRAQueue:RabbitMq:Username"] = Env.RabbitUser,
        ["LoRAQueue:RabbitMq:Password"] = Env.RabbitPassword,
        ["LoRAQueue:Postgres:ConnectionString"] = ConnectionString,
        ["LoRAQueue:Model:Path"] = Files.ModelPath,
        ["LoRAQueue:AdapterStore:Path"] = Files.AdapterStorePath,
    };

    /// <summary>Starts a worker process consuming <paramref name="rankQueues"/> ("base,8,32"); waits until it consumes.</summary>
    public async Task<WorkerProcess> StartWorkerAsync(string id, string rankQueues, IReadOnlyDictionary<string, string>? extra = null)
    {
        var environment = HostEnvironment();
        environment["LORAQUEUE__WORKER__ID"] = id;
        environment["LORAQUEUE__WORKER__RANKQUEUES"] = rankQueues;
        environment["LORAQUEUE__WORKER__KVCACHEMB"] = "16";
        environment["LORAQUEUE__WORKER__LOADREPORTSECONDS"] = "2";
        foreach (var (k, v) in extra ?? new Dictionary<string, string>()) environment[k] = v;
        var worker = await WorkerProcess.StartAsync(Env.WorkerDll, id, environment);
        _workers.Add(worker);
        return worker;
    }

    /// <summary>Starts a scheduler process (needs the pipeline's Redis); waits until it runs (leader or standby).</summary>
    public async Task<WorkerProcess> StartSchedulerAsync(string id, IReadOnlyDictionary<string, string>? extra = null)
    {
        if (Redis is null) throw new InvalidOperationException("a scheduler needs Redis: create the pipeline with one");
        var environment = HostEnvironment();
        environment["LORAQUEUE__SCHEDULER__ID"] = id;
        foreach (var (k, v) in extra ?? new Dictionary<string, string>()) environment[k] = v;
        var scheduler = await WorkerProcess.StartAsync(Env.SchedulerDll, id, environment, readyMarker: WorkerProcess.SchedulerReadyMarker);
        _workers.Add(scheduler);
        return scheduler;
    }

    /// <summary>Starts `loraqueue serve {roles}` (each role a host in one process) with <paramref name="arguments"/>; waits until its
    /// worker consumes, so <paramref name="roles"/> must include the worker.</summary>
    public async Task<WorkerProcess> StartServeAsync(string id, IReadOnlyList<string> roles, IReadOnlyList<string> arguments,
                                                     IReadOnlyDictionary<string, string>? extra = null)
    {
        var environment = HostEnvironment();
        environment["LORAQUEUE__WORKER__ID"] = id;
        environment["LORAQUEUE__WORKER__KVCACHEMB"] = "16";
        foreach (var (k, v) in extra ?? new Dictionary<string, string>()) environment[k] = v;
        var serve = await WorkerProcess.StartAsync(Env.CliDll, id, environment, arguments: ["serve", .. roles, .. arguments]);
        _workers.Add(serve);
        return serve;
    }

    public Dictionary<string, string> HostEnvironment()
    {
        var environment = ServiceConfiguration().Where(kv => kv.Value is not null)
            .ToDictionary(kv => "LORAQUEUE__" + kv.Key["LoRAQueue:".Length..].Replace(":", "__").ToUpperInvariant(), kv => kv.Value!);
        environment["MASSTRANSIT_USAGE_TELEMETRY"] = "false";
        environment["DOTNET_gcServer"] = "0";
        return environment;
    }

    public SubmitJob Job(string? adapterId, string prompt = "The queue serves many adapters", int maxTokens = 8) => new()
    {
        JobId = Guid.NewGuid(),
        Tenant = Tenant,
        AdapterId = adapterId,
        Prompt = prompt,
        MaxTokens = maxTokens,
        Metadata = new Dictionary<string, string> { ["test"] = "integration" },
        SubmittedAt = DateTimeOffset.UtcNow,
    };

    /// <summary>What a producer in another language does: publish JSON bytes to a rank queue's exchange with a plain client.</summary>
    /// <param name="expiration">Per-message TTL in milliseconds (AMQP expiration), if any.</param>
    /// <param name="headers">AMQP headers, if any (a trace context, …).</param>
    public async Task PublishRawAsync(string queue, string json, string? expiration = null, IDictionary<string, object?>? headers = null)
    {
        await using var channel = await Amqp.CreateChannelAsync(new CreateChannelOptions(
            publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var properties = new BasicProperties
        {
            ContentType = "application/json",
            DeliveryMode = DeliveryModes.Persistent,
            MessageId = Guid.NewGuid().ToString(),
            Expiration = expiration,
            Headers = headers,
        };
        await channel.BasicPublishAsync(queue, routingKey: "", mandatory: true, properties, Encoding.UTF8.GetBytes(json));
    }

    /// <summary>Ready messages in a queue (passive declare: fails if the queue does not exist).</summary>
    public async Task<uint> QueueDepthAsync(string queue)
    {
        await using var channel = await Amqp.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
    }

    /// <summary>Takes one message from a queue, or null when it is empty or does not exist yet.</summary>
    public async Task<BasicGetResult?> TakeAsync(string queue)
    {
        await using var channel = await Amqp.CreateChannelAsync();
        try
        {
            return await channel.BasicGetAsync(queue, autoAck: true);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return null;
        }
    }

    public Task<JobRecord> WaitForJobAsync(Guid jobId, JobStatus status, TimeSpan? timeout = null) =>
        Eventually.WaitAsync(() => History.GetAsync(jobId, CancellationToken.None)!, r => r is not null && r.Status == status,
            $"job {jobId} to be {status}", timeout, WorkerOutput)!;

    public async Task<IReadOnlyList<JobRecord>> WaitForJobsAsync(IReadOnlyCollection<Guid> jobIds, JobStatus status, TimeSpan? timeout = null)
    {
        return await Eventually.WaitAsync(async () =>
            {
                var found = new List<JobRecord>();
                foreach (var id in jobIds)
                    if (await History.GetAsync(id, CancellationToken.None) is { } r) found.Add(r);
                return found;
            },
            rs => rs.Count == jobIds.Count && rs.All(r => r.Status == status),
            $"{jobIds.Count} jobs to be {status}", timeout, WorkerOutput);
    }

    public string WorkerOutput() => string.Join(Environment.NewLine, _workers.Select(w => w.Output));

    public static string QueueOf(int? bucket) => RankBuckets.QueueName(bucket);

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers) await worker.DisposeAsync();
        if (_amqp is not null) await _amqp.DisposeAsync();
        if (_producer is not null)
        {
            await _producer.GetRequiredService<IBusControl>().StopAsync(CancellationToken.None);
            await _producer.DisposeAsync();
        }
        await DataSource.DisposeAsync();
        await using (var admin = NpgsqlDataSource.Create(Env.PostgresConnectionString))
        await using (var drop = admin.CreateCommand($"DROP DATABASE IF EXISTS \"{Database}\" WITH (FORCE)"))
            await drop.ExecuteNonQueryAsync();
        await RabbitMqAdmin.FromServicesEnv(Env).DeleteVirtualHostAsync(VirtualHost);
    }
}
