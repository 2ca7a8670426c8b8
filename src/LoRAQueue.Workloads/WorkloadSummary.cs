namespace LoRAQueue.Workloads;

/// <summary>Mean, median and 99th percentile (nearest rank) of a length.</summary>
public sealed record LengthStats(double Mean, int P50, int P99, int Max);

/// <summary>How many adapters of one rank a workload names and how many of its requests ask for them (Rank null: the
/// base model or requests without an adapter; then Adapters is 0).</summary>
public sealed record RankShare(int? Rank, int Adapters, int Requests);

/// <summary>What <c>loraqueue workload describe</c> prints.</summary>
public sealed record WorkloadSummary(
    string Description,
    string Format,
    int Requests,
    double DurationSeconds,
    double RatePerSecond,
    double? InterArrivalCv,
    LengthStats Input,
    LengthStats Output,
    int Adapters,
    double? TopAdapterShare,
    IReadOnlyList<RankShare> Ranks)
{
    public static WorkloadSummary Of(Workload w)
    {
        var requests = w.Requests;
        double duration = w.Duration.TotalSeconds;
        double? cv = null;
        if (requests.Count > 2)
        {
            var gaps = new double[requests.Count - 1];
            for (int i = 1; i < requests.Count; i++) gaps[i - 1] = (requests[i].Arrival - requests[i - 1].Arrival).TotalSeconds;
            double mean = gaps.Average();
            if (mean > 0) cv = Math.Sqrt(gaps.Sum(g => (g - mean) * (g - mean)) / gaps.Length) / mean;
        }
        var perAdapter = requests.Where(r => r.AdapterId is not null).GroupBy(r => r.AdapterId!).Select(g => g.Count()).ToList();
        var ranks = requests.GroupBy(r => r.Rank)
            .Select(g => new RankShare(g.Key, g.Key is null ? 0 : w.Adapters.Count(a => a.Rank == g.Key), g.Count()))
            .OrderBy(s => s.Rank is null ? 1 : 0).ThenBy(s => s.Rank).ToList();
        // Adapters named without a rank (a job export without rank_bucket) count under the null row.
        if (w.Adapters.Count(a => a.Rank is null) is > 0 and var unranked)
            ranks = ranks.Select(s => s.Rank is null ? s with { Adapters = unranked } : s).ToList();
        return new WorkloadSummary(w.Description, w.Format?.Describe() ?? "generated", requests.Count, duration,
            duration > 0 ? (requests.Count - 1) / duration : 0, cv,
            Stats(requests.Select(r => r.InputTokens)), Stats(requests.Select(r => r.OutputTokens)),
            w.Adapters.Count, perAdapter.Count == 0 ? null : perAdapter.Max() / (double)requests.Count, ranks);
    }

    private static LengthStats Stats(IEnumerable<int> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return new LengthStats(0, 0, 0, 0);
        int At(double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new LengthStats(sorted.Average(), At(0.5), At(0.99), sorted[^1]);
    }
}
