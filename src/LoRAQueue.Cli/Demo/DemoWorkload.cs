using System.Globalization;
using LoRAQueue.InProcess;
using LoRAQueue.Workloads;

namespace LoRAQueue.Cli.Demo;

/// <summary>
/// The jobs the demo replays. Arrivals and lengths are generated (Gamma inter-arrivals with a CV of 3, log-normal
/// lengths) or read from a trace (<see cref="TraceReader"/>: any format). Where the requests name no adapters (generated,
/// Azure, Mooncake) they are drawn — Zipf popularity (exponent 1.1) over the demo's adapters in a seeded random order,
/// so popularity is independent of rank, and 10% base-model jobs; a trace's own adapters (LoRAServe, job history) are
/// mapped onto the demo's by rank (<see cref="AdapterAssignment.MapOnto"/>) and its base-model requests stay so.
/// Times are then compressed by <see cref="Speedup"/> (by default, so the replay takes about 20 s).
/// </summary>
internal sealed record DemoWorkload(string Description, IReadOnlyList<DemoJob> Jobs, double Speedup)
{
    public const double ArrivalCv = 3;
    public const double ZipfExponent = 1.1;
    public const double BaseModelShare = 0.10;
    /// <summary>The small model's sizes: prompts and outputs are clamped to these.</summary>
    public const int MaxPromptTokens = 200, MaxOutputTokens = 32;
    /// <summary>Mean gap of generated arrivals before the speedup: one job a second.</summary>
    public static readonly TimeSpan GeneratedMeanGap = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan DefaultReplayTime = TimeSpan.FromSeconds(20);

    public TimeSpan Duration => Jobs.Count == 0 ? TimeSpan.Zero : Jobs[^1].At;

    public static DemoWorkload Generate(int jobs, int seed, IReadOnlyList<DemoAdapter> adapters, double? speedup,
                                        TimeSpan? replayTime = null)
    {
        var arrivals = new Random(seed);
        var lengths = new Random(seed + 1);
        double t = 0;
        var requests = new List<WorkloadRequest>(jobs);
        for (int i = 0; i < jobs; i++)
        {
            if (i > 0) t += Distributions.InterArrival(arrivals, GeneratedMeanGap.TotalSeconds, ArrivalCv);
            requests.Add(new WorkloadRequest(TimeSpan.FromSeconds(t),
                Distributions.LogNormal(lengths, median: 48, sigma: 0.7, min: 4, max: MaxPromptTokens),
                Distributions.LogNormal(lengths, median: 16, sigma: 0.5, min: 2, max: MaxOutputTokens)));
        }
        var description = string.Create(CultureInfo.InvariantCulture,
            $"generated: Gamma arrivals (CV {ArrivalCv}), Zipf {ZipfExponent} adapter popularity, {BaseModelShare * 100:F0}% base model, seed {seed}");
        return Build(description, requests, seed, adapters, speedup, replayTime);
    }

    /// <param name="trace">The trace's first rows (<see cref="TraceReader.Read"/>).</param>
    public static DemoWorkload FromTrace(Workload trace, int seed, IReadOnlyList<DemoAdapter> adapters, double? speedup, TimeSpan? replayTime = null)
    {
        var popularity = trace.NamesAdapters
            ? "its adapters mapped by rank onto the demo's"
            : string.Create(CultureInfo.InvariantCulture, $"Zipf {ZipfExponent} adapter popularity, {BaseModelShare * 100:F0}% base model");
        var description = string.Create(CultureInfo.InvariantCulture,
            $"{trace.Description}: lengths clamped to {MaxPromptTokens}/{MaxOutputTokens} tokens, {popularity}, seed {seed}");
        return Build(description, trace.Requests, seed, adapters, speedup, replayTime);
    }

    private static DemoWorkload Build(string description, IReadOnlyList<WorkloadRequest> requests, int seed,
                                      IReadOnlyList<DemoAdapter> adapters, double? speedup, TimeSpan? replayTime)
    {
        if (speedup is { } s && !(s > 0 && double.IsFinite(s)))
            throw new ArgumentOutOfRangeException(nameof(speedup), speedup, "the speedup must be a positive number");
        var span = requests.Count == 0 ? TimeSpan.Zero : requests[^1].Arrival;
        double factor = speedup ?? Math.Max(1, span / (replayTime ?? DefaultReplayTime));

        var pool = adapters.Select(a => new WorkloadAdapter(a.Id, a.Rank)).ToList();
        List<WorkloadRequest> assigned;
        if (requests.Any(r => r.AdapterId is not null))
        {
            assigned = AdapterAssignment.MapOnto(requests, pool);
        }
        else
        {
            var picks = new Random(seed + 2);
            var byPopularity = pool.OrderBy(_ => picks.Next()).ToList();
            assigned = AdapterAssignment.Assign(requests, byPopularity, ZipfExponent, picks, BaseModelShare);
        }
        var jobs = assigned.Select((r, i) => new DemoJob(i, r.Arrival / factor, r.AdapterId,
                Math.Clamp(r.InputTokens, 1, MaxPromptTokens), Math.Clamp(r.OutputTokens, 1, MaxOutputTokens)))
            .ToList();
        return new DemoWorkload(description, jobs, factor);
    }
}
