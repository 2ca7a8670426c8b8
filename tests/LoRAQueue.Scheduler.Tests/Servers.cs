using LoRAQueue.History;
using Npgsql;
using StackExchange.Redis;

namespace LoRAQueue.Scheduler.Tests;

/// <summary>The real Redis that scripts/services.sh started, and a random key prefix per test class; its keys are
/// deleted afterwards.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public const string Variable = "LORAQUEUE__REDIS__CONFIGURATION";

    public string Prefix { get; } = $"lqtest:{Guid.NewGuid():N}:";
    public ConnectionMultiplexer Redis { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        string configuration = Environment.GetEnvironmentVariable(Variable)
            ?? throw new InvalidOperationException($"{Variable} is not set: these tests need the real Redis. Run " +
                                                   "`bash scripts/services.sh start` and `eval \"$(bash scripts/services.sh env)\"` first.");
        Redis = await ConnectionMultiplexer.ConnectAsync(configuration);
        // Warm the lease's code paths (JIT, script cache) so that the first timed call in a test is not the slowest.
        var warm = new SchedulerLease(Redis, "warm-up", TimeSpan.FromSeconds(5), Prefix + "warm-up:");
        await warm.AcquireOrRenewAsync();
        await warm.AcquireOrRenewAsync();
        await warm.NextEpochAsync();
        await warm.ReleaseAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var endpoint in Redis.GetEndPoints())
        {
            var keys = new List<RedisKey>();
            await foreach (var key in Redis.GetServer(endpoint).KeysAsync(pattern: Prefix + "*")) keys.Add(key);
            if (keys.Count > 0) await Redis.GetDatabase().KeyDeleteAsync([.. keys]);
        }
        await Redis.DisposeAsync();
    }
}

/// <summary>A fresh, migrated Postgres database per test class (server from scripts/services.sh); dropped afterwards.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public const string Variable = "LORAQUEUE__POSTGRES__CONNECTIONSTRING";

    private string _admin = "";
    private readonly string _name = "lq_scheduler_" + Guid.NewGuid().ToString("N");

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _admin = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value
            : throw new InvalidOperationException($"{Variable} is not set: these tests need the real PostgreSQL. Run " +
                                                  "`bash scripts/services.sh start` and `eval \"$(bash scripts/services.sh env)\"` first.");
        await using (var admin = new NpgsqlConnection(_admin))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {_name}", admin);
            await create.ExecuteNonQueryAsync();
        }
        string connectionString = new NpgsqlConnectionStringBuilder(_admin) { Database = _name, MaxPoolSize = 10 }.ConnectionString;
        DatabaseMigrator.Migrate(connectionString);
        DataSource = NpgsqlDataSource.Create(connectionString);
    }

    public async Task DisposeAsync()
    {
        if (DataSource is not null) await DataSource.DisposeAsync();
        await using var admin = new NpgsqlConnection(_admin);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_name} WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }
}
