using System.Globalization;
using LoRAQueue.Cli.Demo;
using LoRAQueue.Contracts;
using LoRAQueue.Formats;

namespace LoRAQueue.Cli.Bench;

/// <summary>
/// The benchmark's workload, identical in every run: Poisson arrivals at a fixed rate for a fixed duration, Zipf
/// (exponent <see cref="DemoWorkload.ZipfExponent"/>) adapter popularity over the adapters in a seeded random order (so
/// popularity is independent of rank), log-normal prompt and output lengths as in the demo. No base-model jobs: the
/// comparison is about adapter ranks. The demand it offers (prompt + output tokens/s per adapter) is what a
/// scheduler's demand windows would report for it, and is what the placement is computed from.
/// </summary>
internal sealed record BenchWorkload(string Description, IReadOnlyList<DemoJob> Jobs, IReadOnlyList<SubmitJob> Templates,
                                     TimeSpan Duration)
{
    public const string Tenant = "bench";

    public static BenchWorkload Generate(PlacementBenchOptions options, IReadOnlyList<DemoAdapter> adapters, ModelTokenizer tokenizer)
    {
        if (adapters.Count == 0) throw new ArgumentException("the workload needs at least one adapter", nameof(adapters));
        var arrivals = new Random(options.Seed);
        var lengths = new Random(options.Seed + 1);
        var picks = new Random(options.Seed + 2);
        var byPopularity = adapters.OrderBy(_ => picks.Next()).ToList();
        var cumulative = Distributions.ZipfCumulative(byPopularity.Count, DemoWorkload.ZipfExponent);

        var jobs = new List<DemoJob>();
        double t = Distributions.InterArrival(arrivals, 1 / options.Rate, cv: 1);
        while (t < options.Duration.TotalSeconds)
        {
            jobs.Add(new DemoJob(jobs.Count, TimeSpan.FromSeconds(t), byPopularity[Distributions.Pick(picks, cumulative)].Id,
                Distributions.LogNormal(lengths, median: 48, sigma: 0.7, min: 4, max: DemoWorkload.MaxPromptTokens),
                Distributions.LogNormal(lengths, median: 16, sigma: 0.5, min: 2, max: DemoWorkload.MaxOutputTokens)));
            t += Distributions.InterArrival(arrivals, 1 / options.Rate, cv: 1);
        }

        var prompts = new PromptText(tokenizer, DemoWorkload.MaxPromptTokens);
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
        var description = string.Create(CultureInfo.InvariantCulture,
            $"Poisson arrivals at {options.Rate:G4} jobs/s for {options.Duration.TotalSeconds:G4} s ({jobs.Count} jobs), Zipf {DemoWorkload.ZipfExponent} popularity over {adapters.Count} adapters of ranks {string.Join("/", adapters.Select(a => a.Rank).Distinct().Order())}, seed {options.Seed}");
        return new BenchWorkload(description, jobs, templates, options.Duration);
    }

    /// <summary>Offered demand per adapter: (prompt + output tokens) of its jobs per second of arrivals. The prompt
    /// side counts the job's length as drawn (the text re-encodes to within a token or two of it).</summary>
    public IReadOnlyDictionary<string, double> DemandTps() =>
        Jobs.GroupBy(j => j.AdapterId!).ToDictionary(g => g.Key,
            g => g.Sum(j => (double)(j.PromptTokens + j.MaxTokens)) / Duration.TotalSeconds, StringComparer.Ordinal);
}

/// <summary>The model and a few adapters per rank: the demo's cached set by default, or adapters generated for a
/// given model (kept in the cache under the model's name and a hash of its path).</summary>
internal static class BenchAssets
{
    public static DemoAssets Ensure(PlacementBenchOptions options, IProgress<string> progress)
    {
        if (options.ModelPath is null) return DemoAssets.Ensure(options.CacheRoot, options.AdaptersPerRank, progress);
        var model = Path.GetFullPath(options.ModelPath);
        if (!File.Exists(Path.Combine(model, "config.json")))
            throw new DirectoryNotFoundException($"--model '{options.ModelPath}' is not a model directory (no config.json)");
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(model)))[..8];
        var store = Path.Combine(options.CacheRoot, "adapters", $"{Path.GetFileName(model)}-{hash}");
        var adapters = new List<DemoAdapter>();
        foreach (int rank in DemoAssets.Ranks)
            for (int i = 1; i <= options.AdaptersPerRank; i++)
            {
                var adapter = new DemoAdapter($"r{rank}-{i}", rank);
                adapters.Add(adapter);
                var dir = Path.Combine(store, adapter.Id);
                if (File.Exists(Path.Combine(dir, LoraAdapter.WeightsFileName))) continue;
                progress.Report($"generating adapter {adapter.Id} into {store}");
                var tmp = dir + ".tmp";
                if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
                SyntheticAdapter.Create(model, rank, null, tmp, (ulong)(rank * 1000 + i));
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
                Directory.Move(tmp, dir);
            }
        return new DemoAssets(model, store, adapters);
    }

    /// <summary>Bytes of an adapter's weights file: what holding it costs a worker.</summary>
    public static long SizeBytes(DemoAssets assets, string adapterId) =>
        new FileInfo(Path.Combine(assets.AdapterStorePath, adapterId, LoraAdapter.WeightsFileName)).Length;
}
