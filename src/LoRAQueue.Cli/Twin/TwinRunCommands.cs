using System.CommandLine;
using System.Globalization;
using LoRAQueue.Cli.Commands;
using LoRAQueue.Core.Costs;
using LoRAQueue.Core.Placement;
using LoRAQueue.Twin;
using LoRAQueue.Workloads;

namespace LoRAQueue.Cli.Twin;

/// <summary>`loraqueue twin run` and `twin capacity`: a trace replayed on the digital twin of a fleet.</summary>
internal static class TwinRunCommands
{
    private sealed record Common(Option<string> Trace, Option<string> Profile, Option<string> Kernel, Option<double> RateScale,
                                 Option<int> Seed, Option<double> Slo, Option<bool> Json, Option<string?> Plots, Option<int> Adapters,
                                 Option<double> Alpha, Option<string> Ranks, Option<int?> MaxBatchTokens, Option<int?> MaxRows,
                                 Option<double> WindowSeconds, Option<int?> MaxSequences, Option<long?> KvTokens, Option<int> MaxAdapters,
                                 Option<double?> ConcurrentSteps, Option<double> PickupMs, Option<bool> ProfilePoints, Option<int?> Prefetch, Option<int?> MaxBacklog, Option<bool> WeightedPrefetch, Option<bool> PlanUpFront)
    {
        public IEnumerable<Option> All => [Trace, Profile, Kernel, RateScale, Seed, Slo, Json, Plots, Adapters, Alpha, Ranks, MaxBatchTokens, MaxRows,
                                           WindowSeconds, MaxSequences, KvTokens, MaxAdapters, ConcurrentSteps, PickupMs, ProfilePoints, Prefetch, MaxBacklog, WeightedPrefetch, PlanUpFront];
    }

    public static IEnumerable<Command> Create()
    {
        var common = new Common(
            new Option<string>("--trace") { Description = "Request trace (LoRAServe CSV, Azure CSV, Mooncake JSONL, jobs export)", Required = true },
            new Option<string>("--profile") { Description = "Accelerator profile: a built-in name (a100, a100-40gb) or a profile JSON file", DefaultValueFactory = _ => "a100" },
            new Option<string>("--kernel") { Description = "segmented | padded", DefaultValueFactory = _ => "segmented" },
            new Option<double>("--rate-scale") { Description = "Replay at F times the trace's arrival rate (arrival times divided by F)", DefaultValueFactory = _ => 1 },
            new Option<int>("--seed") { Description = "Seed for the adapters given to a trace that names none", DefaultValueFactory = _ => 1 },
            new Option<double>("--slo-ttft") { Description = "TTFT SLO in seconds (arrival → first token)", DefaultValueFactory = _ => 1 },
            new Option<bool>("--json") { Description = "Print one JSON object" },
            new Option<string?>("--plots") { Description = "Write PNG plots into this directory" },
            new Option<int>("--adapters") { Description = "Adapters to draw for a trace that names none", DefaultValueFactory = _ => 100 },
            new Option<double>("--alpha") { Description = "Zipf popularity exponent for those adapters", DefaultValueFactory = _ => 1.0 },
            new Option<string>("--ranks") { Description = "Rank mix for those adapters, e.g. 8:0.4,16:0.3,32:0.2,64:0.05,128:0.05", DefaultValueFactory = _ => "8,16,32,64,128" },
            new Option<int?>("--max-batch-tokens") { Description = "Token budget of one engine step (default: 2048, or 512 for a profile fitted on a CPU)" },
            new Option<int?>("--max-rows") { Description = "Read only the trace's first N requests" },
            new Option<double>("--window") { Description = "The scheduler's placement window in seconds", DefaultValueFactory = _ => 60 },
            new Option<int?>("--max-sequences") { Description = "Sequences per engine step and prefetch per queue (default: the profile's max batch)" },
            new Option<long?>("--kv-tokens") { Description = "KV cache tokens per worker (default: the profile's)" },
            new Option<int>("--max-adapters") { Description = "Adapters resident per worker (LoRAQueue:Worker:MaxResidentAdapters)", DefaultValueFactory = _ => 32 },
            new Option<double?>("--concurrent-steps") { Description = "The workers share one machine on which this many steps run at full speed at once (e.g. 1 for the in-process bench on 2 cores); unset: a machine each" },
            new Option<double>("--pickup-ms") { Description = "Fixed time from a job's delivery to the engine (bus, admission, tokenizer)", DefaultValueFactory = _ => 0 },
            new Option<bool>("--profile-operating-points") { Description = "Plan with the profile's measured operating points instead of the cost model's at this trace's lengths" },
            new Option<int?>("--prefetch") { Description = "Messages a worker holds unacknowledged per rank queue (default: --max-sequences, as the live worker)" },
            new Option<int?>("--max-backlog") { Description = "Load-aware credit: a worker takes a message only while it holds fewer than this many jobs its engine is not running (default: prefetch alone, as the live worker)" },
            new Option<bool>("--weighted-prefetch") { Description = "Each worker's prefetch per queue in proportion to that queue's share of its planned load (default: the same on every queue, as the live worker)" },
            new Option<bool>("--plan-up-front") { Description = "As bench placement: one placement from the whole trace's demand before the first arrival, adapters preloaded, no re-placement" });

        var workers = new Option<int>("--workers") { Description = "Workers in the fleet", Required = true };
        var policy = new Option<string>("--policy") { Description = $"Placement policy: {string.Join(", ", PlacementPolicies.Names)}", DefaultValueFactory = _ => "loraserve" };
        var requestsOut = new Option<string?>("--requests-out") { Description = "Write every request's fate (arrival, worker, first token, finish) to this CSV file" };
        var run = new Command("run", "Replay a trace on a simulated fleet: throughput, TTFT percentiles, SLO attainment, per-worker utilisation and placements") { workers, policy, requestsOut };
        foreach (var option in common.All) run.Options.Add(option);
        run.SetAction((parse, _) => Run(parse, common, parse.GetValue(workers), parse.GetValue(policy)!, parse.GetValue(requestsOut)));

        var attainment = new Option<double>("--attainment") { Description = "Share of requests that must meet the SLO", DefaultValueFactory = _ => 0.95 };
        var policies = new Option<string>("--policies") { Description = "Policies to size", DefaultValueFactory = _ => string.Join(",", PlacementPolicies.Names) };
        var capacity = new Command("capacity", "The fewest workers per policy that meet the TTFT SLO for a trace (a search over fleet sizes)") { attainment, policies };
        foreach (var option in common.All) capacity.Options.Add(option);
        capacity.SetAction((parse, _) => Capacity(parse, common, parse.GetValue(attainment), parse.GetValue(policies)!));

        var sweepWorkers = new Option<int>("--workers") { Description = "Workers in the fleet", Required = true };
        var sweepAttainment = new Option<double>("--attainment") { Description = "Share of requests that must meet the SLO", DefaultValueFactory = _ => 0.95 };
        var sweepPolicies = new Option<string>("--policies") { Description = "Policies to sweep", DefaultValueFactory = _ => string.Join(",", PlacementPolicies.Names) };
        var scales = new Option<string>("--rate-scales") { Description = "Rates to replay at, as multiples of the trace's (after --rate-scale)", DefaultValueFactory = _ => "0.5,1,1.5,2,3,4" };
        var sweep = new Command("sweep", "Throughput, TTFT and SLO attainment against request rate per policy, and each policy's throughput at the SLO") { sweepWorkers, sweepAttainment, sweepPolicies, scales };
        foreach (var option in common.All) sweep.Options.Add(option);
        sweep.SetAction((parse, _) => Sweep(parse, common, parse.GetValue(sweepWorkers), parse.GetValue(sweepAttainment), parse.GetValue(sweepPolicies)!, parse.GetValue(scales)!));
        return [run, capacity, sweep];
    }

    private static Task<int> Run(ParseResult parse, Common common, int workers, string policy, string? requestsOut)
    {
        var error = parse.InvocationConfiguration.Error;
        if (!TryPrepare(parse, common, out var setup, out var problem)) return Task.FromResult(CliOutput.Fail(error, problem!));
        if (workers < 1) return Task.FromResult(CliOutput.Fail(error, "--workers must be at least 1"));
        if (!PlacementPolicies.Names.Contains(policy)) return Task.FromResult(CliOutput.Fail(error, $"unknown policy '{policy}' (known: {string.Join(", ", PlacementPolicies.Names)})"));
        var result = new TwinFleet(setup.Options(workers, policy)).Run(setup.Requests);
        var output = parse.InvocationConfiguration.Output;
        if (parse.GetValue(common.Json)) CliOutput.WriteJson(output, result);
        else TwinView.WriteRun(output, setup.Description, result);
        if (parse.GetValue(common.Plots) is { } directory)
            error.WriteLine($"wrote {TwinPlots.TtftCdf(directory, "ttft-cdf", [($"{result.Policy} × {result.Kernel}, {result.Workers} workers", result.Ttfts)], result.SloTtftS)}");
        if (requestsOut is not null)
        {
            WriteRequests(requestsOut, result.Jobs);
            error.WriteLine($"wrote {requestsOut}");
        }
        return Task.FromResult(0);
    }

    private static void WriteRequests(string path, IReadOnlyList<TwinJob> jobs)
    {
        using var writer = new StreamWriter(path);
        writer.WriteLine("request,adapter,rank,input_tokens,output_tokens,arrival_s,worker,first_token_s,finished_s,ttft_s,preemptions");
        static string S(double? v) => v is { } x ? x.ToString("0.######", CultureInfo.InvariantCulture) : "";
        foreach (var j in jobs)
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{j.Request.Id},{j.Request.AdapterId},{j.Request.Rank},{j.Request.InputTokens},{j.Request.OutputTokens},{S(j.Request.ArrivalSeconds)},{j.Worker},{S(j.FirstTokenSeconds)},{S(j.FinishedSeconds)},{S(j.TtftSeconds)},{j.Preemptions}"));
    }

    private static Task<int> Capacity(ParseResult parse, Common common, double attainment, string policyList)
    {
        var error = parse.InvocationConfiguration.Error;
        if (!TryPrepare(parse, common, out var setup, out var problem)) return Task.FromResult(CliOutput.Fail(error, problem!));
        var names = policyList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.FirstOrDefault(n => !PlacementPolicies.Names.Contains(n)) is { } unknown)
            return Task.FromResult(CliOutput.Fail(error, $"unknown policy '{unknown}' (known: {string.Join(", ", PlacementPolicies.Names)})"));
        if (attainment is <= 0 or > 1) return Task.FromResult(CliOutput.Fail(error, "--attainment must be in (0, 1]"));
        var answers = names.Select(name => TwinCapacity.Search(setup.Requests, n => setup.Options(n, name), attainment,
            probe => error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {probe.Workers} workers → SLO attainment {probe.SloAttainment:P1}, TTFT p95 {probe.TtftP95S:0.###} s")))).ToList();
        var report = new CapacityReport(setup.Description, parse.GetValue(common.Slo), attainment, answers);
        var output = parse.InvocationConfiguration.Output;
        if (parse.GetValue(common.Json)) CliOutput.WriteJson(output, report);
        else TwinView.WriteCapacity(output, report);
        if (parse.GetValue(common.Plots) is { } directory)
            error.WriteLine($"wrote {TwinPlots.WorkersNeeded(directory, "workers-needed", answers, $"Workers needed for TTFT ≤ {report.SloTtftS:0.###} s at {attainment:P0}")}");
        return Task.FromResult(0);
    }

    private static Task<int> Sweep(ParseResult parse, Common common, int workers, double attainment, string policyList, string scaleList)
    {
        var error = parse.InvocationConfiguration.Error;
        if (!TryPrepare(parse, common, out var setup, out var problem)) return Task.FromResult(CliOutput.Fail(error, problem!));
        if (workers < 1) return Task.FromResult(CliOutput.Fail(error, "--workers must be at least 1"));
        var names = policyList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.FirstOrDefault(n => !PlacementPolicies.Names.Contains(n)) is { } unknown)
            return Task.FromResult(CliOutput.Fail(error, $"unknown policy '{unknown}' (known: {string.Join(", ", PlacementPolicies.Names)})"));
        if (attainment is <= 0 or > 1) return Task.FromResult(CliOutput.Fail(error, "--attainment must be in (0, 1]"));
        var scales = new List<double>();
        foreach (var text in scaleList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double scale) || !(scale > 0))
                return Task.FromResult(CliOutput.Fail(error, $"--rate-scales: '{text}' is not a positive number"));
            scales.Add(scale);
        }
        if (scales.Count == 0) return Task.FromResult(CliOutput.Fail(error, "--rate-scales names no rate"));

        var series = names.Select(name => TwinSweep.Run(setup.Requests, setup.Options(workers, name), scales, attainment,
            progress: p => error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: ×{p.RateScale:0.###} ({p.OfferedRps:0.##} req/s) → {p.ThroughputRps:0.##} req/s, TTFT p95 {p.TtftP95S:0.###} s, SLO attainment {p.SloAttainment:P1}")))).ToList();
        var report = new SweepReport(setup.Description, workers, parse.GetValue(common.Slo), attainment, series);
        var output = parse.InvocationConfiguration.Output;
        if (parse.GetValue(common.Json)) CliOutput.WriteJson(output, report);
        else TwinView.WriteSweep(output, report);
        if (parse.GetValue(common.Plots) is { } directory)
        {
            string title = string.Create(CultureInfo.InvariantCulture, $"{workers} workers, TTFT SLO {report.SloTtftS:0.###} s");
            error.WriteLine($"wrote {TwinPlots.AgainstRate(directory, "throughput-vs-rate", $"Throughput against request rate ({title})", "completed requests/s",
                [.. series.Select(s => (s.Policy, (IReadOnlyList<(double, double)>)[.. s.Points.Select(p => (p.OfferedRps, p.ThroughputRps))]))])}");
            error.WriteLine($"wrote {TwinPlots.AgainstRate(directory, "ttft-p95-vs-rate", $"TTFT p95 against request rate ({title})", "TTFT p95, seconds (log)",
                [.. series.Select(s => (s.Policy, (IReadOnlyList<(double, double)>)[.. s.Points.Select(p => (p.OfferedRps, p.TtftP95S ?? double.NaN))]))], report.SloTtftS, logY: true)}");
            error.WriteLine($"wrote {TwinPlots.AgainstRate(directory, "slo-attainment-vs-rate", $"SLO attainment against request rate ({title})", "share within the SLO",
                [.. series.Select(s => (s.Policy, (IReadOnlyList<(double, double)>)[.. s.Points.Select(p => (p.OfferedRps, p.SloAttainment))]))], attainment)}");
        }
        return Task.FromResult(0);
    }

    /// <summary>The trace as twin requests and the options every run of this command shares.</summary>
    private sealed record Setup(string Description, IReadOnlyList<TwinRequest> Requests, Func<int, string, TwinOptions> Options);

    private static bool TryPrepare(ParseResult parse, Common common, out Setup setup, out string? problem)
    {
        setup = null!;
        AcceleratorProfile profile;
        Workload workload;
        try
        {
            profile = AcceleratorProfiles.Resolve(parse.GetValue(common.Profile)!);
            workload = TraceReader.Read(parse.GetValue(common.Trace)!, parse.GetValue(common.MaxRows));
            if (workload.Requests.Any(r => r.AdapterId is null) && parse.GetValue(common.Adapters) > 0)
                workload = AdapterAssignment.AssignTo(workload, parse.GetValue(common.Adapters), parse.GetValue(common.Alpha),
                                                      RankMix.Parse(parse.GetValue(common.Ranks)!), parse.GetValue(common.Seed));
        }
        catch (Exception e) when (e is IOException or FormatException or ProfileValidationException or ArgumentException or UnauthorizedAccessException)
        {
            problem = e.Message;
            return false;
        }
        var kernel = parse.GetValue(common.Kernel) switch
        {
            "segmented" => LoraKernelKind.Segmented,
            "padded" => LoraKernelKind.Padded,
            var other => (LoraKernelKind?)null,
        };
        if (kernel is null) { problem = "--kernel is segmented or padded"; return false; }
        double scale = parse.GetValue(common.RateScale);
        if (scale <= 0) { problem = "--rate-scale must be positive"; return false; }
        double slo = parse.GetValue(common.Slo);
        if (slo <= 0) { problem = "--slo-ttft must be positive"; return false; }

        long loraBytesPerRank = profile.Model?.LoraBytesPerRank ?? 0;
        var requests = workload.Requests.Select((r, i) => new TwinRequest(i, r.Arrival.TotalSeconds / scale, r.InputTokens, Math.Max(1, r.OutputTokens),
            r.AdapterId, r.Rank ?? 0, (r.Rank ?? 0) * loraBytesPerRank)).ToList();
        const int blockSize = 16;
        bool cpu = profile.Fit is not null;
        int maxBatchTokens = parse.GetValue(common.MaxBatchTokens) ?? (cpu ? 512 : 2048);
        var cost = new LinearStepCostModel(profile);
        int? maxSequences = parse.GetValue(common.MaxSequences);
        long? kvTokens = parse.GetValue(common.KvTokens);
        int maxAdapters = parse.GetValue(common.MaxAdapters);
        bool useProfilePoints = parse.GetValue(common.ProfilePoints);
        int? prefetch = parse.GetValue(common.Prefetch);
        if (maxSequences is < 1 || kvTokens is < 16 || maxAdapters < 1 || prefetch is < 1) { problem = "--max-sequences, --kv-tokens, --max-adapters and --prefetch must be positive"; return false; }
        var load = profile.AdapterLoad;
        var drift = new DriftSettings { Window = TimeSpan.FromSeconds(parse.GetValue(common.WindowSeconds)) };
        drift = drift with { MinInterval = TimeSpan.FromSeconds(Math.Min(10, drift.Window.TotalSeconds)) };
        string description = string.Create(CultureInfo.InvariantCulture,
            $"{workload.Description}{(scale != 1 ? $", rate ×{scale:G4}" : "")}; profile {profile.Name}, kernel {parse.GetValue(common.Kernel)}");
        setup = new Setup(description, requests, (workers, policy) => new TwinOptions
        {
            Workers = workers, Policy = policy, Cost = cost, Kernel = kernel.Value,
            KvBlocks = (int)Math.Max(1, (kvTokens ?? profile.Capacity?.KvTokens ?? 65536) / blockSize), BlockSize = blockSize,
            MaxSequences = maxSequences ?? profile.Capacity?.MaxBatch ?? 32, MaxBatchTokens = maxBatchTokens, MaxResidentAdapters = maxAdapters, Prefetch = prefetch, MaxBacklog = parse.GetValue(common.MaxBacklog), WeightedPrefetch = parse.GetValue(common.WeightedPrefetch), PlanUpFront = parse.GetValue(common.PlanUpFront),
            AdapterLoadSeconds = (bytes, _) => load is null ? 0.03 : load.ConstantMs / 1e3 + bytes / Math.Max(1, load.BandwidthGbs * 1e9),
            // As a live worker's estimator learns them from the jobs it runs: from the cost model at this trace's lengths. The
            // profile's own points (measured at one request shape) only on request.
            OperatingPoints = useProfilePoints && profile.OperatingPoints is { TokensPerS.Count: > 0 } points
                ? points.TokensPerS.Prepend(new KeyValuePair<int, double>(0, points.TokensPerS.Values.Max())).DistinctBy(p => p.Key).ToDictionary()
                : null,
            Drift = drift, SloTtftSeconds = slo,
            ConcurrentSteps = parse.GetValue(common.ConcurrentSteps), PickupSeconds = parse.GetValue(common.PickupMs) / 1e3,
        });
        problem = null;
        return true;
    }
}

/// <summary>What `twin sweep --json` prints.</summary>
public sealed record SweepReport(string Workload, int Workers, double SloTtftS, double Attainment, IReadOnlyList<SweepSeries> Policies);

/// <summary>What `twin capacity --json` prints.</summary>
public sealed record CapacityReport(string Workload, double SloTtftS, double Attainment, IReadOnlyList<CapacityAnswer> Policies);
