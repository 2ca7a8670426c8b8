namespace LoRAQueue.Twin;

/// <summary>One offered rate of a sweep: the trace replayed at <see cref="RateScale"/> times its arrival rate.</summary>
public sealed record SweepPoint(double RateScale, double OfferedRps, double ThroughputRps, double OutputTokensPerS, double? TtftP50S,
                                double? TtftP95S, double SloAttainment, bool MeetsSlo);

/// <summary>One policy across rates: every point run, and the highest offered rate whose attainment still meets the target
/// (<see cref="RateAtSloRps"/>, the fleet's throughput at the SLO), with the requests/s completed over that run's makespan
/// (lower: a replay's first and last seconds are not steady state); nulls when not even the lowest rate meets it.
/// <see cref="LowerBound"/>: even the highest rate swept met the SLO, so the fleet can take more than that.</summary>
public sealed record SweepSeries(string Policy, IReadOnlyList<SweepPoint> Points, double? RateAtSloRps, double? ThroughputAtSloRps,
                                 double? RateScaleAtSlo, bool LowerBound);

/// <summary>
/// Throughput against offered rate for one fleet: the trace replayed at each given rate scale, then the highest scale that
/// still meets the SLO refined by bisection between the last scale that met it and the first that did not (attainment
/// falls as the rate rises, which makes the bisection sound). The refined points join the series, so the rate at the SLO
/// is one of its points.
/// </summary>
public static class TwinSweep
{
    public static SweepSeries Run(IReadOnlyList<TwinRequest> requests, TwinOptions options, IReadOnlyList<double> rateScales,
                                  double attainment, int refineSteps = 4, Action<SweepPoint>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(rateScales);
        if (rateScales.Count == 0 || rateScales.Any(s => !(s > 0))) throw new ArgumentException("rate scales must be positive", nameof(rateScales));
        if (attainment is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(attainment), "a share in (0, 1]");
        double span = requests.Count < 2 ? 0 : requests.Max(r => r.ArrivalSeconds) - requests.Min(r => r.ArrivalSeconds);

        var points = new SortedList<double, SweepPoint>();
        SweepPoint Probe(double scale)
        {
            if (points.TryGetValue(scale, out var known)) return known;
            var scaled = requests.Select(r => r with { ArrivalSeconds = r.ArrivalSeconds / scale }).ToList();
            var result = new TwinFleet(options).Run(scaled);
            var point = new SweepPoint(scale, span > 0 ? Math.Round(requests.Count * scale / span, 3) : 0, result.ThroughputRps,
                result.OutputTokensPerS, result.TtftP50S, result.TtftP95S, result.SloAttainment, result.SloAttainment >= attainment);
            progress?.Invoke(point);
            return points[scale] = point;
        }

        foreach (double scale in rateScales.Distinct().Order()) Probe(scale);
        var met = points.Values.Where(p => p.MeetsSlo).ToList();
        if (met.Count > 0)
        {
            double low = met.Max(p => p.RateScale);
            double? high = points.Values.Where(p => !p.MeetsSlo && p.RateScale > low).Select(p => (double?)p.RateScale).Min();
            for (int i = 0; i < refineSteps && high is { } h; i++)
            {
                double middle = (low + h) / 2;
                if (Probe(middle).MeetsSlo) low = middle; else high = middle;
            }
        }
        var best = points.Values.LastOrDefault(p => p.MeetsSlo);
        return new SweepSeries(options.Policy, [.. points.Values], best?.OfferedRps, best?.ThroughputRps, best?.RateScale, points.Values[^1].MeetsSlo);
    }
}
