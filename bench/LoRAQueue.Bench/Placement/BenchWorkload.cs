using System.Globalization;
using LoRAQueue.Contracts;
using LoRAQueue.Formats;
using LoRAQueue.InProcess;
using LoRAQueue.Workloads;

namespace LoRAQueue.Bench;

/// <summary>
/// The benchmark's workload, identical in every run: Poisson arrivals at a fixed rate for a fixed duration, Zipf
/// (exponent <see cref="ZipfExponent"/>, the demo's) adapter popularity over the adapters in a seeded random order (so
/// popularity is independent of rank), log-normal prompt lengths as in the demo and longer outputs (<see cref="OutputMedianTokens"/>). No base-model jobs: the
/// comparison is about adapter ranks. Or a replayed trace (<c>--trace</c>, any format <see cref="TraceReader"/> reads):
/// its requests arriving within the duration, lengths clamped to the small model's; a trace's own adapters are mapped by
/// rank onto the bench's (<see cref="AdapterAssignment.MapOnto"/>), and requests without one (Azure, Mooncake, base-model
/// rows) get Zipf-drawn adapters as above. The demand it offers (prompt + output tokens/s per adapter) is what a
/// scheduler's demand windows would report for it, and is what the placement is computed from.
/// </summary>
public sealed record BenchWorkload(string Description, IReadOnlyList<DemoJob> Jobs, IReadOnlyList<SubmitJob> Templates,
                                   TimeSpan Duration)
{
    public const string Tenant = "bench";
    /// <summary>The demo's popularity exponent and prompt cap (the small model's sizes).</summary>
    public const double ZipfExponent = 1.1;
    public const int MaxPromptTokens = 200;
    /// <summary>Outputs 4× the demo's (median 64, up to 128 tokens, prompts as in the demo): decode, where every step pays
    /// the batch's LoRA cost, dominates a job as it does in chat serving.</summary>
    public const int OutputMedianTokens = 64, MaxOutputTokens = 128;
    /// <summary>The most jobs a run takes (as <see cref="PlacementBenchOptions.Problem"/> bounds rate × duration).</summary>
    public const int MaxJobs = 100_000;

    /// <summary>The offered arrival rate, jobs per second: the Poisson rate, or a trace's jobs over the duration.</summary>
    public double Rate { get; init; }

    public static BenchWorkload Generate(PlacementBenchOptions options, IReadOnlyList<DemoAdapter> adapters, ModelTokenizer tokenizer) =>
        Generate(options, trace: null, adapters, tokenizer);

    /// <param name="trace">A trace to replay (<see cref="PlacementBenchOptions.TracePath"/> read), or null for Poisson arrivals.</param>
    public static BenchWorkload Generate(PlacementBenchOptions options, Workload? trace, IReadOnlyList<DemoAdapter> adapters, ModelTokenizer tokenizer)
    {
        if (adapters.Count == 0) throw new ArgumentException("the workload needs at least one adapter", nameof(adapters));
        var picks = new Random(options.Seed + 2);
        var byPopularity = adapters.OrderBy(_ => picks.Next()).ToList();
        var ranks = string.Join("/", adapters.Select(a => a.Rank).Distinct().Order());
        List<DemoJob> jobs;
        string description;
        double rate;
        if (trace is null)
        {
            var arrivals = new Random(options.Seed);
            var lengths = new Random(options.Seed + 1);
            var cumulative = Distributions.ZipfCumulative(byPopularity.Count, ZipfExponent);
            jobs = [];
            double t = Distributions.InterArrival(arrivals, 1 / options.Rate, cv: 1);
            while (t < options.Duration.TotalSeconds)
            {
                jobs.Add(new DemoJob(jobs.Count, TimeSpan.FromSeconds(t), byPopularity[Distributions.Pick(picks, cumulative)].Id,
                    Distributions.LogNormal(lengths, median: 48, sigma: 0.7, min: 4, max: MaxPromptTokens),
                    Distributions.LogNormal(lengths, median: OutputMedianTokens, sigma: 0.5, min: 2, max: MaxOutputTokens)));
                t += Distributions.InterArrival(arrivals, 1 / options.Rate, cv: 1);
            }
            rate = options.Rate;
            description = string.Create(CultureInfo.InvariantCulture,
                $"Poisson arrivals at {options.Rate:G4} jobs/s for {options.Duration.TotalSeconds:G4} s ({jobs.Count} jobs), Zipf {ZipfExponent} popularity over {adapters.Count} adapters (all linear modules) of ranks {ranks}, output median {OutputMedianTokens} ≤ {MaxOutputTokens} tokens, seed {options.Seed}");
        }
        else
        {
            var requests = trace.Requests.Where(r => r.Arrival < options.Duration).ToList();
            if (requests.Count == 0)
                throw new ArgumentException($"{trace.Description}: no request arrives within --duration {options.Duration.TotalSeconds:G6} s");
            if (requests.Count > MaxJobs)
                throw new ArgumentException($"{trace.Description}: {requests.Count} requests arrive within --duration {options.Duration.TotalSeconds:G6} s; at most {MaxJobs} (shorten --duration)");
            var pool = adapters.Select(a => new WorkloadAdapter(a.Id, a.Rank)).ToList();
            var mapped = trace.NamesAdapters ? AdapterAssignment.MapOnto(requests, pool) : requests;
            var assigned = AdapterAssignment.Assign(mapped, [.. byPopularity.Select(a => new WorkloadAdapter(a.Id, a.Rank))], ZipfExponent, picks);
            jobs = assigned.Select((r, i) => new DemoJob(i, r.Arrival, r.AdapterId,
                Math.Clamp(r.InputTokens, 1, MaxPromptTokens), Math.Clamp(r.OutputTokens, 1, MaxOutputTokens))).ToList();
            rate = jobs.Count / options.Duration.TotalSeconds;
            var popularity = trace.NamesAdapters
                ? $"its adapters mapped by rank onto {adapters.Count} adapters (all linear modules) of ranks {ranks}{(requests.Any(r => r.AdapterId is null) ? $", base-model requests Zipf {ZipfExponent}-drawn" : "")}"
                : $"Zipf {ZipfExponent} popularity over {adapters.Count} adapters (all linear modules) of ranks {ranks}";
            description = string.Create(CultureInfo.InvariantCulture,
                $"{trace.Description}: the {jobs.Count} arriving in the first {options.Duration.TotalSeconds:G6} s ({rate:G4} jobs/s), {popularity}, lengths clamped to {MaxPromptTokens}/{MaxOutputTokens} tokens, seed {options.Seed}");
        }

        var prompts = new PromptText(tokenizer, MaxPromptTokens);
        var text = new Random(options.Seed + 3);
        var templates = jobs.Select(j => new SubmitJob
        {
            JobId = Guid.Empty, // a fresh id per run
            Tenant = Tenant,
            AdapterId = j.AdapterId,
            Prompt = prompts.Make(j.PromptTokens, text),
            MaxTokens = j.MaxTokens,
            Metadata = new Dictionary<string, string> { ["bench_job"] = j.Index.ToString(CultureInfo.InvariantCulture) },
        }).ToList();
        return new BenchWorkload(description, jobs, templates, options.Duration) { Rate = rate };
    }

    /// <summary>Offered demand per adapter: (prompt + output tokens) of its jobs per second of arrivals. The prompt
    /// side counts the job's length as drawn (the text re-encodes to within a token or two of it).</summary>
    public IReadOnlyDictionary<string, double> DemandTps() =>
        Jobs.GroupBy(j => j.AdapterId!).ToDictionary(g => g.Key,
            g => g.Sum(j => (double)(j.PromptTokens + j.MaxTokens)) / Duration.TotalSeconds, StringComparer.Ordinal);
}

/// <summary>The model and a few adapters per rank, generated for the benchmark on all seven linear modules
/// (<see cref="Targets"/>) so that a rank-128 adapter costs a large share of a step — the regime the placement question is
/// about. With the demo's q/k/v/o adapters on the <c>small</c> model rank 128 adds only ~25 % of a token's MACs and the
/// measured operating points come out flat in rank. Kept in the cache under the model's name and
/// <see cref="StoreSuffix"/>, apart from the demo's adapters; the model is the demo's cached <c>small</c> one by default.</summary>
public static class BenchAssets
{
    public static readonly IReadOnlyList<string> Targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    public const string StoreSuffix = "bench-all-linear";

    public static DemoAssets Ensure(PlacementBenchOptions options, IProgress<string> progress)
    {
        string model, store;
        if (options.ModelPath is null)
        {
            model = ModelCache.Ensure(DemoAssets.Preset, progress, root: options.CacheRoot);
            store = Path.Combine(options.CacheRoot, "adapters", $"{Path.GetFileName(model)}-{StoreSuffix}");
        }
        else
        {
            model = Path.GetFullPath(options.ModelPath);
            if (!File.Exists(Path.Combine(model, "config.json")))
                throw new DirectoryNotFoundException($"--model '{options.ModelPath}' is not a model directory (no config.json)");
            var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(model)))[..8];
            store = Path.Combine(options.CacheRoot, "adapters", $"{Path.GetFileName(model)}-{hash}-{StoreSuffix}");
        }
        var adapters = new List<DemoAdapter>();
        foreach (int rank in DemoAssets.Ranks)
            for (int i = 1; i <= options.AdaptersPerRank; i++)
            {
                var adapter = new DemoAdapter($"r{rank}-{i}", rank);
                adapters.Add(adapter);
                var dir = Path.Combine(store, adapter.Id);
                if (File.Exists(Path.Combine(dir, LoraAdapter.ConfigFileName)) && File.Exists(Path.Combine(dir, LoraAdapter.WeightsFileName))) continue;
                progress.Report($"generating adapter {adapter.Id} (all linear modules) into {store}");
                var tmp = dir + ".tmp";
                if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
                // The seed follows from the id, so a store completed later holds the same bytes as one made at once.
                SyntheticAdapter.Create(model, rank, Targets, tmp, (ulong)(rank * 1000 + i));
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
                Directory.Move(tmp, dir);
            }
        return new DemoAssets(model, store, adapters);
    }

    /// <summary>Bytes of an adapter's weights file: what holding it costs a worker.</summary>
    public static long SizeBytes(DemoAssets assets, string adapterId) =>
        new FileInfo(Path.Combine(assets.AdapterStorePath, adapterId, LoraAdapter.WeightsFileName)).Length;
}
