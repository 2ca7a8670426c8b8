namespace LoRAQueue.Core.Placement;

/// <summary>
/// Forecasts an adapter's demand in the next window from the last k windows (k = 5 by default: LoRAServe's 300 s of
/// 60 s windows) with a Theil–Sen line: the slope is the median of the slopes between every pair of windows, the
/// intercept the median of (demand − slope·t), and the forecast that line one window ahead, never below 0.
/// It follows a trend (a linear ramp is extrapolated exactly) while one burst window moves neither median — a single
/// outlier among k ≥ 3 windows is ignored — and a lasting level shift is followed once it fills about half the
/// windows. Fewer windows than k use what there is (one window: its value).
/// </summary>
public sealed class DemandForecaster
{
    public const int DefaultWindows = 5;

    public DemandForecaster(int windows = DefaultWindows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windows, 1);
        Windows = windows;
    }

    public int Windows { get; }

    /// <summary>The next window's tokens/s from recent windows, oldest first; 0 when there are none.</summary>
    public double Forecast(IReadOnlyList<double> recentWindows)
    {
        ArgumentNullException.ThrowIfNull(recentWindows);
        foreach (var v in recentWindows)
            if (!double.IsFinite(v) || v < 0) throw new ArgumentException($"window demand must be finite and ≥ 0 (got {v})", nameof(recentWindows));
        int n = Math.Min(Windows, recentWindows.Count);
        if (n == 0) return 0;
        var y = recentWindows.Skip(recentWindows.Count - n).ToArray(); // t = 0 … n−1, forecast at t = n
        if (n == 1) return y[0];

        var slopes = new List<double>(n * (n - 1) / 2);
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                slopes.Add((y[j] - y[i]) / (j - i));
        double slope = Median(slopes);
        double intercept = Median([.. y.Select((v, t) => v - slope * t)]);
        return Math.Max(0, intercept + slope * n);
    }

    /// <summary>The snapshot with each adapter's demand_tps replaced by the forecast of its demand_windows (adapters
    /// without windows keep theirs).</summary>
    public LoadSnapshot ApplyTo(LoadSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return snapshot with
        {
            Adapters = [.. snapshot.Adapters.Select(a => a.DemandWindows is { Count: > 0 } w ? a with { DemandTps = Forecast(w) } : a)],
        };
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        int mid = values.Count / 2;
        return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }
}
