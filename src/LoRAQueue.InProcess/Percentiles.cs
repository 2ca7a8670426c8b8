namespace LoRAQueue.InProcess;

public static class Percentiles
{
    /// <summary>Nearest-rank percentile, rounded to 0.1 ms; null when there is no sample.</summary>
    public static double? Of(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0) return null;
        var sorted = values.Order().ToList();
        int rank = (int)Math.Ceiling(p * sorted.Count);
        return Math.Round(sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)], 1);
    }
}
