using System.Globalization;
using System.Text.Json;
using LoRAQueue.Core;
using StackExchange.Redis;

namespace LoRAQueue.LoadState;

/// <summary>
/// The scheduler's view of the cluster, held in Redis so that workers, the gateway and any scheduler replica share
/// it: worker heartbeats (with a TTL), measured operating points, per-adapter demand windows and queue depths.
/// Key layout: docs/redis-keys.md. Thread-safe; one instance per process is enough.
/// </summary>
public sealed partial class RedisLoadState
{
    private readonly IDatabase _db;
    private readonly TimeProvider _time;

    public RedisLoadState(IConnectionMultiplexer redis, LoadStateOptions? options = null, string prefix = LoadStateKeys.DefaultPrefix,
                          TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(redis);
        Options = options ?? new LoadStateOptions();
        Options.Validate();
        Keys = new LoadStateKeys(prefix);
        _db = redis.GetDatabase();
        _time = time ?? TimeProvider.System;
    }

    public LoadStateOptions Options { get; }
    public LoadStateKeys Keys { get; }

    private DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Writes (or refreshes) a worker's heartbeat; it expires after <paramref name="ttl"/>
    /// (default <see cref="LoadStateOptions.HeartbeatTtl"/>) unless written again.</summary>
    public async Task WriteHeartbeatAsync(WorkerHeartbeat heartbeat, TimeSpan? ttl = null)
    {
        ArgumentNullException.ThrowIfNull(heartbeat);
        ArgumentException.ThrowIfNullOrWhiteSpace(heartbeat.Worker);
        var life = ttl ?? Options.HeartbeatTtl;
        if (life < TimeSpan.FromMilliseconds(1)) throw new ArgumentOutOfRangeException(nameof(ttl), life, "must be at least 1 ms");
        var stamped = heartbeat.At == default ? heartbeat with { At = Now } : heartbeat;
        var tx = _db.CreateTransaction();
        _ = tx.StringSetAsync(Keys.Heartbeat(heartbeat.Worker), JsonSerializer.Serialize(stamped, WorkerHeartbeat.Json), life);
        _ = tx.KeyExpireAsync(Keys.Holds(heartbeat.Worker), life); // what it holds lives as long as it does
        _ = tx.SortedSetAddAsync(Keys.Workers, heartbeat.Worker, (Now + life).ToUnixTimeMilliseconds());
        await tx.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>Every worker whose heartbeat has not expired, by id. Index entries of expired workers are dropped.</summary>
    public async Task<IReadOnlyList<WorkerHeartbeat>> GetLiveWorkersAsync()
    {
        var ids = (await _db.SortedSetRangeByRankAsync(Keys.Workers).ConfigureAwait(false)).Select(v => (string)v!).ToArray();
        if (ids.Length == 0) return [];
        var values = await _db.StringGetAsync([.. ids.Select(Keys.Heartbeat)]).ConfigureAwait(false);
        var live = new List<WorkerHeartbeat>();
        var gone = new List<RedisValue>();
        for (int i = 0; i < ids.Length; i++)
        {
            if (values[i].IsNull) { gone.Add(ids[i]); continue; }
            live.Add(JsonSerializer.Deserialize<WorkerHeartbeat>((string)values[i]!, WorkerHeartbeat.Json)
                     ?? throw new InvalidDataException($"{Keys.Heartbeat(ids[i])}: heartbeat JSON is null"));
        }
        if (gone.Count > 0) await _db.SortedSetRemoveAsync(Keys.Workers, [.. gone]).ConfigureAwait(false);
        return live.OrderBy(w => w.Worker, StringComparer.Ordinal).ToList();
    }

    /// <summary>A worker leaving cleanly: its heartbeat and operating points go at once rather than at expiry.</summary>
    public async Task RemoveWorkerAsync(string worker)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        var tx = _db.CreateTransaction();
        _ = tx.KeyDeleteAsync([Keys.Heartbeat(worker), Keys.OperatingPoints(worker), Keys.Holds(worker)]);
        _ = tx.SortedSetRemoveAsync(Keys.Workers, worker);
        await tx.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>Replaces a worker's measured operating points: rank (0 = base only) → tokens/s within the SLO.</summary>
    public async Task SetOperatingPointsAsync(string worker, IReadOnlyDictionary<int, double> tokensPerSecondByRank)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        ArgumentNullException.ThrowIfNull(tokensPerSecondByRank);
        foreach (var (rank, tps) in tokensPerSecondByRank)
        {
            if (rank < 0) throw new ArgumentOutOfRangeException(nameof(tokensPerSecondByRank), rank, "a rank must be ≥ 0");
            if (!double.IsFinite(tps) || tps <= 0)
                throw new ArgumentOutOfRangeException(nameof(tokensPerSecondByRank), tps, $"tokens/s at rank {rank} must be finite and > 0");
        }
        var key = Keys.OperatingPoints(worker);
        var tx = _db.CreateTransaction();
        _ = tx.KeyDeleteAsync(key);
        if (tokensPerSecondByRank.Count > 0)
        {
            _ = tx.HashSetAsync(key, [.. tokensPerSecondByRank.Select(p => new HashEntry(p.Key, p.Value))]);
            _ = tx.KeyExpireAsync(key, Options.OperatingPointsTtl);
        }
        await tx.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>A worker's operating points; empty when it has not measured any (or they expired).</summary>
    public async Task<IReadOnlyDictionary<int, double>> GetOperatingPointsAsync(string worker)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        var entries = await _db.HashGetAllAsync(Keys.OperatingPoints(worker)).ConfigureAwait(false);
        return entries.ToDictionary(e => int.Parse((string)e.Name!, CultureInfo.InvariantCulture),
                                    e => double.Parse((string)e.Value!, CultureInfo.InvariantCulture));
    }
}
