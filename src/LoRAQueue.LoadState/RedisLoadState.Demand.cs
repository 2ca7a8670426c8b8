using StackExchange.Redis;

namespace LoRAQueue.LoadState;

// Demand: one float counter per (source, bucket), each expiring on its own a retention after its bucket ends, so
// old windows vanish without a sweeper and readers sum whichever buckets a window covers.
public sealed partial class RedisLoadState
{
    /// <summary>Adds prompt + output tokens served (or admitted) for an adapter (null = base model) at time
    /// <paramref name="at"/>. Tokens older than the retention are dropped: no reader could see them.</summary>
    public async Task RecordDemandAsync(string? adapterId, double tokens, DateTimeOffset at)
    {
        if (adapterId is not null) ArgumentException.ThrowIfNullOrWhiteSpace(adapterId);
        if (!double.IsFinite(tokens) || tokens < 0) throw new ArgumentOutOfRangeException(nameof(tokens), tokens, "must be finite and ≥ 0");
        long bucketMs = (long)Options.DemandBucket.TotalMilliseconds;
        long index = Math.DivRem(at.ToUnixTimeMilliseconds(), bucketMs) is var (q, r) && r < 0 ? q - 1 : q;
        var expiresAt = DateTimeOffset.FromUnixTimeMilliseconds((index + 1) * bucketMs) + Options.DemandRetention;
        if (expiresAt <= Now || tokens == 0) return;

        string source = LoadStateKeys.DemandSource(adapterId);
        var key = Keys.DemandBucket(source, index);
        var tx = _db.CreateTransaction();
        _ = tx.StringIncrementAsync(key, tokens);
        _ = tx.KeyExpireAsync(key, expiresAt.UtcDateTime);
        _ = tx.SortedSetAddAsync(Keys.DemandSources, source, expiresAt.ToUnixTimeMilliseconds(), SortedSetWhen.GreaterThan);
        await tx.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The last <paramref name="count"/> complete windows of <paramref name="window"/> each, for every source with
    /// demand still retained: tokens/s per window, oldest first, ending at the start of the bucket that holds
    /// <paramref name="now"/> (the bucket in progress is left out: it would read low). Sources by id, base first.
    /// </summary>
    public async Task<IReadOnlyList<AdapterDemandWindows>> GetDemandWindowsAsync(TimeSpan window, int count, DateTimeOffset? now = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (window <= TimeSpan.Zero || window.Ticks % Options.DemandBucket.Ticks != 0)
            throw new ArgumentOutOfRangeException(nameof(window), window, $"must be a positive multiple of the demand bucket ({Options.DemandBucket})");
        if (window * count > Options.DemandRetention)
            throw new ArgumentOutOfRangeException(nameof(count), count,
                $"{count} windows of {window} reach further back than the demand retention ({Options.DemandRetention})");

        var at = now ?? Now;
        long bucketMs = (long)Options.DemandBucket.TotalMilliseconds;
        long endIndex = Math.DivRem(at.ToUnixTimeMilliseconds(), bucketMs) is var (q, r) && r < 0 ? q - 1 : q; // exclusive
        int perWindow = (int)(window.Ticks / Options.DemandBucket.Ticks);
        long firstIndex = endIndex - (long)perWindow * count;

        // Sources whose newest bucket has expired are gone for good.
        await _db.SortedSetRemoveRangeByScoreAsync(Keys.DemandSources, double.NegativeInfinity, Now.ToUnixTimeMilliseconds(),
                                                   Exclude.None).ConfigureAwait(false);
        var sources = (await _db.SortedSetRangeByRankAsync(Keys.DemandSources).ConfigureAwait(false))
            .Select(v => (string)v!).OrderBy(s => s == LoadStateKeys.BaseSource ? "" : s, StringComparer.Ordinal).ToList();

        var batch = _db.CreateBatch();
        var reads = sources.Select(s => batch.StringGetAsync(
            [.. Enumerable.Range(0, perWindow * count).Select(i => Keys.DemandBucket(s, firstIndex + i))])).ToList();
        batch.Execute();

        var result = new List<AdapterDemandWindows>(sources.Count);
        for (int s = 0; s < sources.Count; s++)
        {
            var values = await reads[s].ConfigureAwait(false);
            var windows = new double[count];
            for (int i = 0; i < values.Length; i++)
                if (!values[i].IsNull) windows[i / perWindow] += (double)values[i];
            for (int w = 0; w < count; w++) windows[w] /= window.TotalSeconds;
            result.Add(new AdapterDemandWindows(LoadStateKeys.AdapterOf(sources[s]), windows));
        }
        return result;
    }
}
