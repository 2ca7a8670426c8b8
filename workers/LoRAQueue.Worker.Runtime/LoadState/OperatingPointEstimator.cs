namespace LoRAQueue.Worker;

/// <summary>
/// A worker's operating points — tokens/s it sustains when the largest rank it serves is r — from one start-up
/// measurement and live job timings. Method:
/// <list type="bullet">
/// <item>Rank 0 (base): the engine's decode throughput at its batch capacity with no adapter, measured once at start-up
/// (<see cref="EngineCalibration"/>).</item>
/// <item>Rank r: each job that completes while the engine holds at least half its capacity gives one step time (its time
/// per output token: every step decodes one token of every running sequence). The sample counts for the largest rank
/// in the batch, which is taken as the largest bucket the worker consumes when the job completes. An exponentially
/// weighted mean of those step times (weight <see cref="Smoothing"/>) gives OP[r] = capacity / step time.</item>
/// <item>Adapters never make decoding faster, so the points must not rise with rank. The measured ones (OP[0] and every
/// rank with samples) are replaced by their closest non-increasing fit (least squares, pool-adjacent-violators): one
/// noisy low sample is averaged with its neighbours instead of capping every larger rank, as a running minimum did.
/// A rank with no sample yet takes the point of the next smaller rank (optimistic until jobs say otherwise).</item>
/// </list>
/// Pure and thread-safe.
/// </summary>
public sealed class OperatingPointEstimator
{
    public const double Smoothing = 0.2;

    private readonly Lock _lock = new();
    private readonly Dictionary<int, double> _stepSeconds = [];

    public OperatingPointEstimator(double baseTokensPerSecond, int batchCapacity, IEnumerable<int> rankBuckets)
    {
        if (!double.IsFinite(baseTokensPerSecond) || baseTokensPerSecond <= 0)
            throw new ArgumentOutOfRangeException(nameof(baseTokensPerSecond), baseTokensPerSecond, "must be finite and > 0");
        ArgumentOutOfRangeException.ThrowIfLessThan(batchCapacity, 1);
        BaseTokensPerSecond = baseTokensPerSecond;
        BatchCapacity = batchCapacity;
        RankBuckets = [.. rankBuckets.Where(b => b > 0).Distinct().Order()];
    }

    public double BaseTokensPerSecond { get; }
    public int BatchCapacity { get; }
    public IReadOnlyList<int> RankBuckets { get; }

    /// <summary>Takes one completed job's time per output token; ignored when the batch was under half full or the
    /// sample is not a positive time.</summary>
    /// <returns>Whether the sample was used.</returns>
    public bool Observe(int largestRankServed, TimeSpan timePerOutputToken, int jobsInEngine)
    {
        if (largestRankServed <= 0 || timePerOutputToken <= TimeSpan.Zero || jobsInEngine * 2 < BatchCapacity) return false;
        double seconds = timePerOutputToken.TotalSeconds;
        lock (_lock)
        {
            _stepSeconds[largestRankServed] = _stepSeconds.TryGetValue(largestRankServed, out var mean)
                ? mean + Smoothing * (seconds - mean)
                : seconds;
        }
        return true;
    }

    /// <summary>Rank (0 = base) → tokens/s for 0 and every configured bucket, non-increasing in rank.</summary>
    public IReadOnlyDictionary<int, double> Points()
    {
        List<(int Rank, double Tps)> measured = [(0, BaseTokensPerSecond)];
        lock (_lock)
            measured.AddRange(_stepSeconds.OrderBy(s => s.Key).Select(s => (s.Key, BatchCapacity / s.Value)));
        var fitted = NonIncreasingFit(measured.Select(m => m.Tps).ToList());

        var points = new SortedDictionary<int, double>();
        int next = 0;
        double current = fitted[0];
        foreach (var rank in RankBuckets.Union(measured.Select(m => m.Rank)).Order())
        {
            while (next < measured.Count && measured[next].Rank <= rank) current = fitted[next++];
            points[rank] = current;
        }
        return points;
    }

    /// <summary>Pool-adjacent-violators: the non-increasing sequence closest to <paramref name="values"/> in least squares.</summary>
    private static double[] NonIncreasingFit(IReadOnlyList<double> values)
    {
        var blocks = new List<(double Sum, int Count)>();
        foreach (var v in values)
        {
            blocks.Add((v, 1));
            while (blocks.Count > 1 && blocks[^2].Sum / blocks[^2].Count < blocks[^1].Sum / blocks[^1].Count)
            {
                var (sum, count) = blocks[^1];
                blocks.RemoveAt(blocks.Count - 1);
                blocks[^1] = (blocks[^1].Sum + sum, blocks[^1].Count + count);
            }
        }
        return [.. blocks.SelectMany(b => Enumerable.Repeat(b.Sum / b.Count, b.Count))];
    }

    /// <summary>Tokens/s when the largest rank served is <paramref name="rank"/> (0 when serving only the base model).</summary>
    public double At(int rank)
    {
        var points = Points();
        return points.Where(p => p.Key <= rank).Select(p => p.Value).DefaultIfEmpty(BaseTokensPerSecond).Last();
    }
}
