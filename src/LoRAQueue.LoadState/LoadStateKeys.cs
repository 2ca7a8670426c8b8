using System.Globalization;
using StackExchange.Redis;

namespace LoRAQueue.LoadState;

/// <summary>Every Redis key the load state uses, in one place so that docs/redis-keys.md has one thing to match.
/// The prefix is "lq:" in production; tests pass their own so that runs never see each other's keys.</summary>
public sealed class LoadStateKeys
{
    public const string DefaultPrefix = "lq:";

    public LoadStateKeys(string prefix = DefaultPrefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        Prefix = prefix;
    }

    public string Prefix { get; }

    /// <summary>ZSET worker id → unix ms its heartbeat expires; lets readers list workers without SCAN.</summary>
    public RedisKey Workers => Prefix + "workers";

    /// <summary>STRING, the worker's heartbeat JSON; its TTL is the heartbeat TTL.</summary>
    public RedisKey Heartbeat(string worker) => Prefix + "worker:" + worker + ":heartbeat";

    /// <summary>HASH rank → tokens/s within the SLO when that is the largest rank served.</summary>
    public RedisKey OperatingPoints(string worker) => Prefix + "worker:" + worker + ":ops";

    /// <summary>HASH adapter digest → the worker's <see cref="AdapterHolder"/> JSON: what its host cache holds. Lives as long as
    /// the worker's heartbeat (every heartbeat resets both).</summary>
    public RedisKey Holds(string worker) => Prefix + "worker:" + worker + ":holds";

    /// <summary>SET of worker ids that advertised the digest; readers drop members whose holds hash no longer has it.</summary>
    public RedisKey Holders(string digest) => Prefix + "adapter:" + digest + ":holders";

    /// <summary>ZSET demand source ("a:&lt;adapter id&gt;" or "base") → unix s of its last record.</summary>
    public RedisKey DemandSources => Prefix + "demand:sources";

    /// <summary>STRING (float) tokens recorded for one source in one bucket of <c>bucketSeconds</c> starting at
    /// <c>bucketIndex · bucketSeconds</c> unix s; expires a retention after the bucket ends.</summary>
    public RedisKey DemandBucket(string source, long bucketIndex) =>
        Prefix + "demand:" + source + ":" + bucketIndex.ToString(CultureInfo.InvariantCulture);

    public const string BaseSource = "base";

    /// <summary>The demand source name of an adapter (null = the base model).</summary>
    public static string DemandSource(string? adapterId) => adapterId is null ? BaseSource : "a:" + adapterId;

    /// <summary>The adapter id of a demand source name (null = the base model).</summary>
    public static string? AdapterOf(string source) => source == BaseSource ? null
        : source.StartsWith("a:", StringComparison.Ordinal) ? source[2..]
        : throw new FormatException($"'{source}' is not a demand source (expected 'base' or 'a:<adapter id>')");
}
