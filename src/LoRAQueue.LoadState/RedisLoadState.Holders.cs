using System.Text.Json;
using StackExchange.Redis;

namespace LoRAQueue.LoadState;

/// <summary>Where adapters' bytes are: each worker advertises the digests in its host cache (docs/redis-keys.md).</summary>
public sealed partial class RedisLoadState
{
    /// <summary>Advertises that <see cref="AdapterHolder.Worker"/> holds the digest's bytes; lives as long as its heartbeat.</summary>
    public async Task AdvertiseAsync(AdapterHolder holder)
    {
        ArgumentNullException.ThrowIfNull(holder);
        ArgumentException.ThrowIfNullOrWhiteSpace(holder.Worker);
        ArgumentException.ThrowIfNullOrWhiteSpace(holder.Digest);
        var stamped = holder.At == default ? holder with { At = Now } : holder;
        var tx = _db.CreateTransaction();
        _ = tx.HashSetAsync(Keys.Holds(holder.Worker), holder.Digest, JsonSerializer.Serialize(stamped, WorkerHeartbeat.Json));
        _ = tx.KeyExpireAsync(Keys.Holds(holder.Worker), Options.HeartbeatTtl);
        _ = tx.SetAddAsync(Keys.Holders(holder.Digest), holder.Worker);
        await tx.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>The worker no longer holds the digest (evicted, or its bytes failed a check).</summary>
    public async Task WithdrawAsync(string worker, string digest)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(worker);
        ArgumentException.ThrowIfNullOrWhiteSpace(digest);
        var tx = _db.CreateTransaction();
        _ = tx.HashDeleteAsync(Keys.Holds(worker), digest);
        _ = tx.SetRemoveAsync(Keys.Holders(digest), worker);
        await tx.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>Every live worker that holds the digest, by worker id. Members of workers gone (heartbeat expired, or the
    /// digest withdrawn) are dropped from the index.</summary>
    public async Task<IReadOnlyList<AdapterHolder>> GetHoldersAsync(string digest)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(digest);
        var workers = (await _db.SetMembersAsync(Keys.Holders(digest)).ConfigureAwait(false)).Select(v => (string)v!).ToArray();
        var holders = new List<AdapterHolder>();
        var gone = new List<RedisValue>();
        foreach (var worker in workers)
        {
            var json = await _db.HashGetAsync(Keys.Holds(worker), digest).ConfigureAwait(false);
            if (json.IsNull) { gone.Add(worker); continue; }
            holders.Add(JsonSerializer.Deserialize<AdapterHolder>((string)json!, WorkerHeartbeat.Json)
                        ?? throw new InvalidDataException($"{Keys.Holds(worker)} {digest}: holder JSON is null"));
        }
        if (gone.Count > 0) await _db.SetRemoveAsync(Keys.Holders(digest), [.. gone]).ConfigureAwait(false);
        return holders.OrderBy(h => h.Worker, StringComparer.Ordinal).ToList();
    }
}
