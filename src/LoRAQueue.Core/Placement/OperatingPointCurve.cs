namespace LoRAQueue.Core.Placement;

/// <summary>
/// A worker's measured operating points (tokens/s within the SLO when its largest rank is r), completed for any rank.
/// A batched LoRA step costs about t0 + c·r per token, so time per token (1/OP) is interpolated linearly in rank
/// between the two neighbouring measured ranks. Above the largest measured rank the last segment's slope is extended
/// (never making a higher rank faster: a non-monotone last segment is held flat). Below the smallest measured rank,
/// and for rank 0 (base model only) unless measured, the smallest measured rank's value is used: conservative, since
/// nothing measured says the worker is faster there.
/// </summary>
public sealed class OperatingPointCurve
{
    private readonly int[] _ranks;
    private readonly double[] _tokensPerSecond;

    public OperatingPointCurve(IReadOnlyDictionary<int, double> points, string workerId = "?")
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Count == 0)
            throw new PlacementInputException($"worker '{workerId}': operating_points is empty (the worker has not calibrated)");
        foreach (var (rank, tps) in points)
        {
            if (rank < 0) throw new PlacementInputException($"worker '{workerId}': operating point rank {rank} is negative");
            if (!double.IsFinite(tps) || tps <= 0)
                throw new PlacementInputException($"worker '{workerId}': operating point at rank {rank} must be positive tokens/s (got {tps})");
        }
        _ranks = [.. points.Keys.Order()];
        _tokensPerSecond = [.. _ranks.Select(r => points[r])];
    }

    public IReadOnlyList<int> MeasuredRanks => _ranks;

    /// <summary>Tokens/s the worker sustains when the largest rank it serves is <paramref name="rank"/>.</summary>
    public double At(int rank)
    {
        if (rank < 0) throw new ArgumentOutOfRangeException(nameof(rank), rank, "rank must be ≥ 0");
        int i = Array.BinarySearch(_ranks, rank);
        if (i >= 0) return _tokensPerSecond[i];
        int above = ~i;
        if (above == 0) return _tokensPerSecond[0];
        if (above == _ranks.Length) return Extrapolate(rank);
        return Interpolate(above - 1, above, rank);
    }

    private double Interpolate(int lo, int hi, int rank)
    {
        double t = (double)(rank - _ranks[lo]) / (_ranks[hi] - _ranks[lo]);
        double secondsPerToken = (1 - t) / _tokensPerSecond[lo] + t / _tokensPerSecond[hi];
        return 1 / secondsPerToken;
    }

    private double Extrapolate(int rank)
    {
        int last = _ranks.Length - 1;
        if (last == 0) return _tokensPerSecond[last];
        double slope = (1 / _tokensPerSecond[last] - 1 / _tokensPerSecond[last - 1]) / (_ranks[last] - _ranks[last - 1]);
        if (slope <= 0) return _tokensPerSecond[last];
        return 1 / (1 / _tokensPerSecond[last] + slope * (rank - _ranks[last]));
    }
}
