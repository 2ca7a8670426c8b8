using System.Globalization;

namespace LoRAQueue.Workloads;

/// <summary>Arrival times of a renewal process: the first request at zero, then independent gaps.</summary>
public static class Arrivals
{
    /// <summary>Poisson arrivals at <paramref name="rate"/> requests/s: exponential gaps (Gamma with CV 1).</summary>
    public static List<TimeSpan> Poisson(double rate, TimeSpan duration, Random rng) => Gamma(rate, cv: 1, duration, rng);

    /// <summary>
    /// Gamma-distributed gaps with mean 1/<paramref name="rate"/> and coefficient of variation <paramref name="cv"/>
    /// (shape 1/CV²): CV 1 is Poisson, larger CVs give bursts separated by lulls, smaller ones steadier traffic.
    /// Arrivals before <paramref name="duration"/>.
    /// </summary>
    public static List<TimeSpan> Gamma(double rate, double cv, TimeSpan duration, Random rng)
    {
        if (!(rate > 0 && double.IsFinite(rate))) throw new ArgumentOutOfRangeException(nameof(rate), rate, "the rate must be a positive number of requests per second");
        if (!(cv > 0 && double.IsFinite(cv))) throw new ArgumentOutOfRangeException(nameof(cv), cv, "the CV must be a positive number");
        if (duration <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(duration), duration, "the duration must be positive");
        var arrivals = new List<TimeSpan>();
        double end = duration.TotalSeconds, t = 0;
        while (t < end)
        {
            arrivals.Add(TimeSpan.FromTicks((long)Math.Round(t * TimeSpan.TicksPerSecond)));
            t += Distributions.InterArrival(rng, 1 / rate, cv);
        }
        return arrivals;
    }
}

/// <summary>Where a generated request's prompt and output lengths come from.</summary>
public abstract class LengthModel
{
    public abstract (int Input, int Output) Draw(Random rng);

    /// <summary>A few words for a workload's description.</summary>
    public abstract string Description { get; }

    /// <summary>Every request the same lengths.</summary>
    public static LengthModel Fixed(int input, int output)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(input);
        ArgumentOutOfRangeException.ThrowIfNegative(output);
        return new FixedLengths(input, output);
    }

    /// <summary>(input, output) pairs drawn uniformly from a trace's requests: the trace's joint length distribution.</summary>
    public static LengthModel Empirical(Workload trace)
    {
        if (trace.Requests.Count == 0) throw new ArgumentException("an empirical length distribution needs a trace with requests", nameof(trace));
        return new EmpiricalLengths(trace.Requests.Select(r => (r.InputTokens, r.OutputTokens)).ToArray(), trace.Description);
    }

    private sealed class FixedLengths(int input, int output) : LengthModel
    {
        public override (int, int) Draw(Random rng) => (input, output);
        public override string Description => string.Create(CultureInfo.InvariantCulture, $"fixed lengths {input}/{output} tokens");
    }

    private sealed class EmpiricalLengths((int, int)[] pairs, string source) : LengthModel
    {
        public override (int, int) Draw(Random rng) => pairs[rng.Next(pairs.Length)];
        public override string Description => $"lengths drawn from {source}";
    }
}

/// <summary>Generated adapters and the assignment of adapters to requests.</summary>
public static class AdapterAssignment
{
    /// <summary>
    /// <paramref name="count"/> adapters named <c>lora-rank-&lt;r&gt;-&lt;i&gt;</c> (i = 0…count−1, its popularity position;
    /// the name carries the rank as LoRAServe traces expect) with ranks from <paramref name="mix"/> in a seeded random
    /// order (<see cref="RankMix.Assign"/>).
    /// </summary>
    public static IReadOnlyList<WorkloadAdapter> Generate(int count, RankMix mix, Random rng)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var ranks = mix.Assign(count, rng);
        return ranks.Select((rank, i) => new WorkloadAdapter(string.Create(CultureInfo.InvariantCulture, $"lora-rank-{rank}-{i}"), rank)).ToList();
    }

    /// <summary>
    /// Gives every request without an adapter one of <paramref name="byPopularity"/>, drawn with Zipf popularity
    /// (adapter i, 0-based, ∝ 1/(i+1)^<paramref name="alpha"/>); with <paramref name="baseModelShare"/> &gt; 0 that share of them
    /// stays on the base model. One <paramref name="rng"/> draw per decision, in request order. Requests that name an
    /// adapter keep it.
    /// </summary>
    public static List<WorkloadRequest> Assign(IReadOnlyList<WorkloadRequest> requests, IReadOnlyList<WorkloadAdapter> byPopularity,
                                               double alpha, Random rng, double baseModelShare = 0)
    {
        if (!(alpha >= 0 && double.IsFinite(alpha))) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "the Zipf exponent must be a number ≥ 0");
        if (!(baseModelShare is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(baseModelShare), baseModelShare, "a share is 0 to 1");
        var cumulative = Distributions.ZipfCumulative(byPopularity.Count, alpha);
        return requests.Select(r =>
        {
            if (r.AdapterId is not null) return r;
            if (baseModelShare > 0 && rng.NextDouble() < baseModelShare || byPopularity.Count == 0) return r;
            var adapter = byPopularity[Distributions.Pick(rng, cumulative)];
            return r with { AdapterId = adapter.Id, Rank = adapter.Rank };
        }).ToList();
    }

    /// <summary>
    /// A trace without adapters (Azure, Mooncake) with <paramref name="adapters"/> generated ones (<see cref="Generate"/>)
    /// assigned by Zipf(<paramref name="alpha"/>) popularity; its arrivals and lengths unchanged. Adapter draws use
    /// Random(<paramref name="seed"/> + 2), as the generators do.
    /// </summary>
    public static Workload AssignTo(Workload trace, int adapters, double alpha, RankMix mix, int seed)
    {
        var rng = new Random(seed + 2);
        var set = Generate(adapters, mix, rng);
        var requests = Assign(trace.Requests, set, alpha, rng);
        var description = string.Create(CultureInfo.InvariantCulture,
            $"{trace.Description}; {(trace.NamesAdapters ? "requests without an adapter get" : "adapters:")} Zipf {alpha:G4} over {adapters} adapters, ranks {mix}, seed {seed}");
        return trace.With(description, requests);
    }

    /// <summary>
    /// A trace's own adapters mapped onto a fixed pool (the demo's or the bench's generated adapters): each adapter the
    /// trace names goes to a pool adapter of the nearest rank (by log2 distance, the larger on a tie; any pool adapter
    /// when the trace gives no rank), taking that rank's pool adapters in turn in order of first request. The trace's
    /// rank mix and, as far as the pool allows, its popularity skew carry over. Requests without an adapter keep none.
    /// </summary>
    public static List<WorkloadRequest> MapOnto(IReadOnlyList<WorkloadRequest> requests, IReadOnlyList<WorkloadAdapter> pool)
    {
        if (pool.Count == 0) throw new ArgumentException("the pool holds no adapters", nameof(pool));
        var poolRanks = pool.Where(a => a.Rank is not null).Select(a => a.Rank!.Value).Distinct().Order().ToList();
        var used = new Dictionary<int, int>();
        int unranked = 0;
        var mapping = new Dictionary<string, WorkloadAdapter>(StringComparer.Ordinal);
        return requests.Select(r =>
        {
            if (r.AdapterId is null) return r;
            if (!mapping.TryGetValue(r.AdapterId, out var target))
            {
                if (r.Rank is { } rank && poolRanks.Count > 0)
                {
                    int nearest = poolRanks.OrderBy(p => Math.Abs(Math.Log2(p) - Math.Log2(rank))).ThenByDescending(p => p).First();
                    var candidates = pool.Where(a => a.Rank == nearest).ToList();
                    int k = used.GetValueOrDefault(nearest);
                    used[nearest] = k + 1;
                    target = candidates[k % candidates.Count];
                }
                else
                {
                    target = pool[unranked++ % pool.Count];
                }
                mapping[r.AdapterId] = target;
            }
            return r with { AdapterId = target.Id, Rank = target.Rank };
        }).ToList();
    }
}

/// <summary>How generated arrivals are spaced.</summary>
public enum ArrivalKind
{
    /// <summary>Exponential gaps.</summary>
    Poisson,
    /// <summary>Gamma gaps with a given coefficient of variation.</summary>
    Gamma,
}

/// <summary>A synthetic workload: arrivals at a rate, Zipf popularity over generated adapters, a rank mix, a length model.</summary>
public sealed record SyntheticWorkloadOptions
{
    public ArrivalKind Kind { get; init; } = ArrivalKind.Poisson;
    /// <summary>Mean arrival rate, requests per second.</summary>
    public required double Rate { get; init; }
    public required TimeSpan Duration { get; init; }
    /// <summary>Coefficient of variation of the gaps (Gamma only; Poisson is 1).</summary>
    public double Cv { get; init; } = 1;
    public int Adapters { get; init; } = 100;
    /// <summary>Zipf exponent of adapter popularity (0 = uniform).</summary>
    public double Alpha { get; init; } = 1;
    public RankMix Ranks { get; init; } = RankMix.Default;
    public LengthModel Lengths { get; init; } = LengthModel.Fixed(512, 128);
    public int Seed { get; init; } = 1;
}

/// <summary>The seeded generators. Each aspect draws from its own stream — arrivals Random(seed), lengths
/// Random(seed + 1), adapters Random(seed + 2) — so changing, say, the rank mix leaves the arrivals as they were.</summary>
public static class WorkloadGenerator
{
    public static Workload Generate(SyntheticWorkloadOptions o)
    {
        var arrivals = o.Kind == ArrivalKind.Poisson
            ? Arrivals.Poisson(o.Rate, o.Duration, new Random(o.Seed))
            : Arrivals.Gamma(o.Rate, o.Cv, o.Duration, new Random(o.Seed));
        var lengths = new Random(o.Seed + 1);
        var requests = arrivals.Select(t =>
        {
            var (input, output) = o.Lengths.Draw(lengths);
            return new WorkloadRequest(t, input, output);
        }).ToList();
        var picks = new Random(o.Seed + 2);
        var adapters = AdapterAssignment.Generate(o.Adapters, o.Ranks, picks);
        var assigned = AdapterAssignment.Assign(requests, adapters, o.Alpha, picks);
        var process = o.Kind == ArrivalKind.Poisson ? "Poisson arrivals" : string.Create(CultureInfo.InvariantCulture, $"Gamma arrivals (CV {o.Cv:G4})");
        var description = string.Create(CultureInfo.InvariantCulture,
            $"generated: {process} at {o.Rate:G4} req/s for {o.Duration.TotalSeconds:G6} s, Zipf {o.Alpha:G4} over {o.Adapters} adapters, ranks {o.Ranks}, {o.Lengths.Description}, seed {o.Seed}");
        return new Workload(description, assigned);
    }
}
