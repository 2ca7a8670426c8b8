using LoRAQueue.Core;

namespace LoRAQueue.Cli.Demo;

/// <summary>
/// Which rank queues each demo worker consumes: the queues in rank order (lora-base first) cut into one contiguous
/// band per worker, so every worker serves a narrow rank range (the LoRAServe idea). A queue's weight stands in for
/// the profiled cost of its rank, 1 + r/64 (rank 128 counts as three base-model queues); the cut minimises the
/// heaviest band, then the spread (sum of squared band weights). 3 workers: [base, 8, 16], [32, 64], [128].
/// </summary>
internal static class RankAssignment
{
    public static IReadOnlyList<int?> Queues(RankBuckets buckets) => [null, .. buckets.Boundaries.Select(b => (int?)b)];

    public static double Weight(int? bucket) => 1 + (bucket ?? 0) / 64.0;

    /// <summary>One band of buckets (null = lora-base) per worker; every queue is in exactly one band.</summary>
    public static IReadOnlyList<IReadOnlyList<int?>> Partition(RankBuckets buckets, int workers)
    {
        var queues = Queues(buckets);
        if (workers < 1 || workers > queues.Count)
            throw new ArgumentOutOfRangeException(nameof(workers), workers,
                $"the demo runs 1 to {queues.Count} workers: each rank queue has exactly one consumer");
        int[]? best = null;
        (double Max, double Squares) bestScore = (double.MaxValue, double.MaxValue);
        // A cut is a set of workers − 1 positions among the queues.Count − 1 gaps; there are at most 2^(n−1) of them.
        for (int mask = 0; mask < 1 << (queues.Count - 1); mask++)
        {
            if (System.Numerics.BitOperations.PopCount((uint)mask) != workers - 1) continue;
            var sizes = SizesOf(mask, queues.Count);
            var score = Score(queues, sizes);
            if (score.Max < bestScore.Max - 1e-9 || (Math.Abs(score.Max - bestScore.Max) < 1e-9 && score.Squares < bestScore.Squares - 1e-9))
                (best, bestScore) = (sizes, score);
        }
        var bands = new List<IReadOnlyList<int?>>();
        int start = 0;
        foreach (int size in best!)
        {
            bands.Add(queues.Skip(start).Take(size).ToList());
            start += size;
        }
        return bands;
    }

    private static int[] SizesOf(int cutMask, int count)
    {
        var sizes = new List<int>();
        int size = 1;
        for (int gap = 0; gap < count - 1; gap++, size++)
            if ((cutMask & (1 << gap)) != 0)
            {
                sizes.Add(size);
                size = 0;
            }
        sizes.Add(size);
        return [.. sizes];
    }

    private static (double Max, double Squares) Score(IReadOnlyList<int?> queues, int[] sizes)
    {
        double max = 0, squares = 0;
        int start = 0;
        foreach (int size in sizes)
        {
            double weight = queues.Skip(start).Take(size).Sum(Weight);
            max = Math.Max(max, weight);
            squares += weight * weight;
            start += size;
        }
        return (max, squares);
    }
}
