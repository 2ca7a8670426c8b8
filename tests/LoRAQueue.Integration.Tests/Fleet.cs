using System.Collections.Concurrent;
using System.Text.Json;
using Dapper;
using LoRAQueue.Contracts;
using LoRAQueue.LoadState;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace LoRAQueue.Integration.Tests;

/// <summary>
/// A scheduled fleet on the real servers: a pipeline with a Redis of its own, worker processes that report to it and
/// scheduler processes, all on short windows so that a test watches several placements in a minute. Counts every
/// JobCompleted the workers publish, so tests can tell a lost job from a duplicated one.
/// </summary>
public sealed class Fleet : IAsyncDisposable
{
    public const string AllQueues = "base,8,16,32,64,128";
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(4);
    public static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(3);

    private static readonly Dictionary<string, string> LoadStateTimings = new()
    {
        ["LORAQUEUE__LOADSTATE__DEMANDBUCKETSECONDS"] = "1",
        ["LORAQUEUE__LOADSTATE__HEARTBEATTTLSECONDS"] = "4",
    };

    private readonly ConnectionMultiplexer _redisClient;

    private Fleet(Pipeline pipeline, RedisServer redis, ConnectionMultiplexer redisClient, CompletionCounter completions)
    {
        Pipeline = pipeline;
        Redis = redis;
        _redisClient = redisClient;
        Completions = completions;
        LoadState = new RedisLoadState(redisClient);
    }

    public Pipeline Pipeline { get; }
    public RedisServer Redis { get; }
    public CompletionCounter Completions { get; }
    public RedisLoadState LoadState { get; }
    public IDatabase RedisDb => _redisClient.GetDatabase();

    public static async Task<Fleet> CreateAsync(ModelFiles files)
    {
        var redis = await RedisServer.StartAsync();
        var completions = new CompletionCounter();
        var pipeline = await Pipeline.CreateAsync(files, bus => bus.AddConsumer<CompletionCounterConsumer>(),
            services => services.AddSingleton(completions), redis);
        // The test's own client rides out the Redis restarts the tests cause.
        var client = await ConnectionMultiplexer.ConnectAsync(redis.Configuration + ",abortConnect=false,connectTimeout=1000");
        return new Fleet(pipeline, redis, client, completions);
    }

    public Task<WorkerProcess[]> StartWorkersAsync(params string[] ids) => Task.WhenAll(ids.Select(id =>
        Pipeline.StartWorkerAsync(id, AllQueues, new Dictionary<string, string>(LoadStateTimings)
        {
            ["LORAQUEUE__WORKER__LOADREPORTSECONDS"] = "1",
        })));

    public Task<WorkerProcess> StartSchedulerAsync(string id) => Pipeline.StartSchedulerAsync(id, new Dictionary<string, string>(LoadStateTimings)
    {
        ["LORAQUEUE__SCHEDULER__POLICY"] = "loraserve",
        ["LORAQUEUE__SCHEDULER__WINDOWSECONDS"] = Window.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["LORAQUEUE__SCHEDULER__DEMANDWINDOWS"] = "3",
        ["LORAQUEUE__SCHEDULER__CHECKSECONDS"] = "0.5",
        ["LORAQUEUE__SCHEDULER__MININTERVALSECONDS"] = "1",
        ["LORAQUEUE__SCHEDULER__LEASESECONDS"] = LeaseTime.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
    });

    /// <summary>Every placement recorded so far, oldest first.</summary>
    public async Task<IReadOnlyList<RecordedPlacement>> PlacementsAsync()
    {
        await using var connection = await Pipeline.DataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<(long Epoch, DateTime CreatedAt, string Plan)>(
            "SELECT epoch, created_at, plan::text FROM placements ORDER BY epoch");
        return [.. rows.Select(r => RecordedPlacement.Parse(r.Epoch, new DateTimeOffset(DateTime.SpecifyKind(r.CreatedAt, DateTimeKind.Utc)), r.Plan))];
    }

    /// <summary>Waits until every worker's heartbeat shows <paramref name="epoch"/> (or a later one) applied.</summary>
    public Task WaitForAcknowledgementAsync(long epoch, IEnumerable<string> workers, TimeSpan timeout) =>
        Eventually.WaitAsync(async () =>
            {
                var live = await TryAsync(() => LoadState.GetLiveWorkersAsync()) ?? [];
                return workers.Select(w => $"{w}={live.FirstOrDefault(h => h.Worker == w)?.Epoch}").ToList();
            },
            acks => acks.All(a => long.TryParse(a[(a.IndexOf('=') + 1)..], out var e) && e >= epoch),
            $"every worker to acknowledge epoch {epoch}", timeout, Pipeline.WorkerOutput);

    /// <summary>The lease holder's id, or null when no scheduler holds it (or Redis is down).</summary>
    public async Task<string?> LeaseHolderAsync() => await TryAsync(async () => (string?)await RedisDb.StringGetAsync("lq:scheduler:lease"));

    private static async Task<T?> TryAsync<T>(Func<Task<T>> read)
    {
        try { return await read(); }
        catch (Exception e) when (e is RedisException or TimeoutException) { return default; }
    }

    public async ValueTask DisposeAsync()
    {
        await Pipeline.DisposeAsync();
        await _redisClient.DisposeAsync();
        await Redis.DisposeAsync();
    }
}

/// <summary>A placement as the scheduler recorded it: epoch, time, and each worker's rank group and queues.</summary>
public sealed record RecordedPlacement(long Epoch, DateTimeOffset CreatedAt, IReadOnlyDictionary<string, (int Group, int[] Queues)> Workers)
{
    public int WorkersInGroup(int rank) => Workers.Values.Count(w => w.Group == rank);

    public static RecordedPlacement Parse(long epoch, DateTimeOffset createdAt, string planJson)
    {
        using var plan = JsonDocument.Parse(planJson);
        var workers = plan.RootElement.GetProperty("workers").EnumerateArray().ToDictionary(
            w => w.GetProperty("id").GetString()!,
            w => (w.GetProperty("rank_group").GetInt32(), w.GetProperty("rank_queues").EnumerateArray().Select(q => q.GetInt32()).ToArray()));
        return new RecordedPlacement(epoch, createdAt, workers);
    }

    public override string ToString() =>
        $"epoch {Epoch} at {CreatedAt:HH:mm:ss.fff}: " + string.Join(", ", Workers.OrderBy(w => w.Key).Select(w => $"{w.Key}→{w.Value.Group} [{string.Join(",", w.Value.Queues)}]"));
}

/// <summary>How many JobCompleted events each job produced.</summary>
public sealed class CompletionCounter
{
    private readonly ConcurrentDictionary<Guid, int> _counts = new();
    public void Add(Guid jobId) => _counts.AddOrUpdate(jobId, 1, (_, n) => n + 1);
    public int CountOf(Guid jobId) => _counts.GetValueOrDefault(jobId);
    public IReadOnlyDictionary<Guid, int> Snapshot() => new Dictionary<Guid, int>(_counts);

    /// <summary>The AdapterPulled events the workers published (what the gateway's metrics count).</summary>
    public ConcurrentQueue<AdapterPulled> Pulls { get; } = new();
}

public sealed class CompletionCounterConsumer(CompletionCounter counter) : IConsumer<JobCompleted>, IConsumer<AdapterPulled>
{
    public Task Consume(ConsumeContext<JobCompleted> context)
    {
        counter.Add(context.Message.JobId);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<AdapterPulled> context)
    {
        counter.Pulls.Enqueue(context.Message);
        return Task.CompletedTask;
    }
}
