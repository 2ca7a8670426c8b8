namespace LoRAQueue.Twin;

/// <summary>One policy's answer to "how many workers does this traffic need": the fewest that meet the SLO, with that run's
/// figures, or null workers when even <see cref="TwinCapacity.MaxWorkers"/> do not.</summary>
public sealed record CapacityAnswer(string Policy, int? WorkersNeeded, double? TtftP95S, double? SloAttainment, IReadOnlyList<CapacityProbe> Probes);

/// <summary>One fleet size the search ran.</summary>
public sealed record CapacityProbe(int Workers, double SloAttainment, double? TtftP95S, double ThroughputRps);

/// <summary>
/// The fewest workers whose twin run gets at least <c>attainment</c> of requests their first token within the SLO: doubling
/// from one worker until a size meets it, then bisecting between the last size that failed and the first that met it.
/// Attainment grows with workers (more capacity, same traffic), which is what makes the bisection sound; each probe is a
/// full twin run, so the search costs about 2·log2(answer) runs.
/// </summary>
public static class TwinCapacity
{
    public const int MaxWorkers = 1024;

    public static CapacityAnswer Search(IReadOnlyList<TwinRequest> requests, Func<int, TwinOptions> options, double attainment,
                                        Action<CapacityProbe>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(options);
        if (attainment is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(attainment), "a share in (0, 1]");
        var probes = new Dictionary<int, (CapacityProbe Probe, TwinResult Result)>();
        (CapacityProbe Probe, TwinResult Result) Probe(int workers)
        {
            if (probes.TryGetValue(workers, out var known)) return known;
            var result = new TwinFleet(options(workers)).Run(requests);
            var probe = new CapacityProbe(workers, result.SloAttainment, result.TtftP95S, result.ThroughputRps);
            progress?.Invoke(probe);
            return probes[workers] = (probe, result);
        }
        bool Meets(int workers) => Probe(workers).Probe.SloAttainment >= attainment;

        string policy = options(1).Policy;
        int high = 1;
        while (!Meets(high))
        {
            if (high >= MaxWorkers) return new CapacityAnswer(policy, null, null, null, Ordered(probes.Values.Select(p => p.Probe)));
            high = Math.Min(MaxWorkers, high * 2);
        }
        int low = high / 2; // failed (or 0)
        while (high - low > 1)
        {
            int middle = (low + high) / 2;
            if (Meets(middle)) high = middle; else low = middle;
        }
        var best = probes[high].Result;
        return new CapacityAnswer(policy, high, best.TtftP95S, best.SloAttainment, Ordered(probes.Values.Select(p => p.Probe)));
    }

    private static IReadOnlyList<CapacityProbe> Ordered(IEnumerable<CapacityProbe> probes) => [.. probes.OrderBy(p => p.Workers)];
}
