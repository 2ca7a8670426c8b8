using System.Globalization;

namespace LoRAQueue.Core;

/// <summary>
/// Maps an adapter's largest module rank to the rank bucket whose queue carries its jobs. A rank rounds up to the
/// smallest boundary ≥ it; above the last boundary it rounds up to the next power of two, so every rank has a bucket.
/// </summary>
public sealed class RankBuckets
{
    public const string BaseQueueName = "lora-base";
    public const string RankQueuePrefix = "lora-rank-";

    public static readonly RankBuckets Default = new([8, 16, 32, 64, 128]);

    private readonly int[] _boundaries;

    public RankBuckets(IReadOnlyList<int> boundaries)
    {
        ArgumentNullException.ThrowIfNull(boundaries);
        if (boundaries.Count == 0) throw new ArgumentException("rank buckets need at least one boundary", nameof(boundaries));
        for (int i = 0; i < boundaries.Count; i++)
        {
            if (boundaries[i] <= 0)
                throw new ArgumentException($"rank bucket boundaries must be positive (got {boundaries[i]} at {i})", nameof(boundaries));
            if (i > 0 && boundaries[i] <= boundaries[i - 1])
                throw new ArgumentException(
                    $"rank bucket boundaries must be strictly ascending (got {boundaries[i - 1]} then {boundaries[i]})", nameof(boundaries));
        }
        _boundaries = [.. boundaries];
    }

    public IReadOnlyList<int> Boundaries => _boundaries;

    /// <summary>Parses "8,16,32" (spaces allowed).</summary>
    public static RankBuckets Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var values = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]))
                throw new FormatException($"rank buckets: '{parts[i]}' is not a positive integer (in '{text}')");
        return new RankBuckets(values);
    }

    public int BucketOf(int maxModuleRank)
    {
        if (maxModuleRank <= 0)
            throw new ArgumentOutOfRangeException(nameof(maxModuleRank), maxModuleRank, "an adapter's rank must be positive");
        foreach (var boundary in _boundaries)
            if (maxModuleRank <= boundary) return boundary;
        if (maxModuleRank > 1 << 30)
            throw new ArgumentOutOfRangeException(nameof(maxModuleRank), maxModuleRank, "rank is too large for a bucket");
        return (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)maxModuleRank);
    }

    /// <summary>null (base model, no adapter) → "lora-base"; 8 → "lora-rank-8".</summary>
    public static string QueueName(int? bucket)
    {
        if (bucket is null) return BaseQueueName;
        if (bucket <= 0) throw new ArgumentOutOfRangeException(nameof(bucket), bucket, "a rank bucket must be positive");
        return RankQueuePrefix + bucket.Value.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The bucket a queue name stands for: null for "lora-base". Throws FormatException for any other name.</summary>
    public static int? ParseQueueName(string q)
    {
        ArgumentNullException.ThrowIfNull(q);
        if (q == BaseQueueName) return null;
        if (q.StartsWith(RankQueuePrefix, StringComparison.Ordinal)
            && int.TryParse(q.AsSpan(RankQueuePrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int bucket)
            && bucket > 0
            && QueueName(bucket) == q) // rejects "lora-rank-08"
            return bucket;
        throw new FormatException($"'{q}' is not a rank queue name (expected '{BaseQueueName}' or '{RankQueuePrefix}<rank>')");
    }

    /// <summary>The queue names of every configured bucket, base first.</summary>
    public IReadOnlyList<string> AllQueueNames() => [BaseQueueName, .. _boundaries.Select(b => QueueName(b))];

    /// <summary>Parses a worker's queue list, "base,8,16" (queue names also accepted): null = base.</summary>
    public static IReadOnlyList<int?> ParseQueueList(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<int?>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int? bucket = part.Equals("base", StringComparison.OrdinalIgnoreCase) ? null
                : int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int b) && b > 0 ? b
                : ParseQueueName(part);
            if (!result.Contains(bucket)) result.Add(bucket);
        }
        return result;
    }

    public override string ToString() => string.Join(",", _boundaries);
}
