using System.CommandLine;
using LoRAQueue.Bench;
using LoRAQueue.Core.Placement;
using LoRAQueue.Engine;
using LoRAQueue.Formats;
using LoRAQueue.InProcess;
using LoRAQueue.Kernels;
using Spectre.Console;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue bench kernels|engine|placement`: the project's measured performance claims.</summary>
internal static class BenchCommands
{
    public static Command Create()
    {
        var command = new Command("bench", "Measure kernels and the engine against bounds measured in the same run");
        command.Subcommands.Add(KernelsCommand());
        command.Subcommands.Add(EngineCommand());
        command.Subcommands.Add(PlacementCommand());
        command.Subcommands.Add(OutagesCommand.Create());
        command.Subcommands.Add(ClusterCommand.Create());
        foreach (var transfer in TransferCommands.Create()) command.Subcommands.Add(transfer);
        return command;
    }

    private static Command KernelsCommand()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var tokens = new Option<int>("--tokens") { Description = "Tokens in a prefill-style batch", DefaultValueFactory = _ => 256 };
        var hidden = new Option<int>("--hidden") { Description = "Module in/out dimension", DefaultValueFactory = _ => 4096 };
        var command = new Command("kernels", "Multi-LoRA shrink+expand: segmented vs padded vs a per-request loop") { json, tokens, hidden };
        command.SetAction(parse =>
        {
            var options = new KernelBenchOptions { Tokens = parse.GetValue(tokens), Hidden = parse.GetValue(hidden) };
            var report = KernelBenchmark.Run(options, CliOutput.ProgressLines());
            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(report.ToJson());
                return 0;
            }
            AnsiConsole.MarkupLineInterpolated($"read bandwidth [bold]{report.BandwidthGbs:F1} GB/s[/], module {options.Hidden}×{options.Hidden}");
            var table = new Table().AddColumns("case", "tokens", "ranks", "segmented ms", "padded ms", "loop ms",
                "padded/segmented", "flop ratio", "segmented GFLOP/s");
            foreach (var c in report.Cases)
                table.AddRow(c.Name, c.Tokens.ToString(), string.Join(",", c.Ranks), c.SegmentedMs.ToString("F3"),
                    c.PaddedMs.ToString("F3"), c.LoopMs.ToString("F3"), (c.PaddedMs / c.SegmentedMs).ToString("F2"),
                    c.FlopRatio.ToString("F2"), c.SegmentedGflops.ToString("F1"));
            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }

    private static Command EngineCommand()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var model = new Option<DirectoryInfo?>("--model") { Description = "Model directory (default: the preset, generated and cached)" };
        var preset = new Option<string>("--preset") { Description = "Preset to generate when --model is absent", DefaultValueFactory = _ => "medium" };
        preset.AcceptOnlyFromAmong([.. SyntheticModel.Presets.Keys]);
        var d = new EngineBenchOptions();
        var sweepBatches = new Option<string>("--sweep-batches") { Description = "Step sweep: decode batch sizes (comma-separated; 'none' for no decode levels)", DefaultValueFactory = _ => string.Join(",", d.SweepBatches) };
        var sweepContexts = new Option<string>("--sweep-contexts") { Description = "Step sweep: prompt lengths of the base-model decode levels (the first is also the LoRA levels')", DefaultValueFactory = _ => string.Join(",", d.SweepContexts) };
        var sweepRanks = new Option<string>("--sweep-ranks") { Description = "Step sweep: adapter ranks of the LoRA decode levels ('none' for no LoRA steps)", DefaultValueFactory = _ => string.Join(",", d.SweepRanks) };
        var sweepPrefill = new Option<string>("--sweep-prefill") { Description = "Step sweep: prompt lengths prefilled in one step ('none' to skip)", DefaultValueFactory = _ => string.Join(",", d.SweepPrefillChunks) };
        var sweepSteps = new Option<int>("--sweep-timed-steps") { Description = "Step sweep: timed steps per point (their median and minimum are kept)", DefaultValueFactory = _ => d.SweepTimedSteps };
        var noSweep = new Option<bool>("--no-sweep") { Description = "Skip the per-step sweep (the report's steps are then empty)" };
        var command = new Command("engine", "Decode tokens/s at batch 1, 8, 32 against the memory-bandwidth bound; prefill and GEMM throughput; " +
                                            "a sweep of timed step shapes for `twin profile fit`")
        {
            json, model, preset, sweepBatches, sweepContexts, sweepRanks, sweepPrefill, sweepSteps, noSweep,
        };
        command.SetAction(parse =>
        {
            var progress = CliOutput.ProgressLines();
            var name = parse.GetValue(preset)!;
            bool sweep = !parse.GetValue(noSweep);
            int[] batches, contexts, ranks, prefill;
            try
            {
                batches = sweep ? PositiveList(parse.GetValue(sweepBatches)!, "--sweep-batches") : [];
                contexts = PositiveList(parse.GetValue(sweepContexts)!, "--sweep-contexts");
                ranks = PositiveList(parse.GetValue(sweepRanks)!, "--sweep-ranks");
                prefill = sweep ? PositiveList(parse.GetValue(sweepPrefill)!, "--sweep-prefill") : [];
                if (parse.GetValue(sweepSteps) < 1) throw new CliException("--sweep-timed-steps must be at least 1");
                if (batches.Length > 0 && contexts.Length == 0) throw new CliException("--sweep-contexts needs at least one length when there are decode batches");
            }
            catch (CliException e)
            {
                return CliOutput.Fail(Console.Error, e.Message);
            }
            var dir = parse.GetValue(model)?.FullName ?? ModelCache.Ensure(name, progress);
            var report = EngineBenchmark.Run(dir, new EngineBenchOptions
            {
                Preset = parse.GetValue(model) is null ? name : null,
                SweepBatches = batches,
                SweepContexts = contexts,
                SweepRanks = ranks,
                SweepPrefillChunks = prefill,
                SweepTimedSteps = parse.GetValue(sweepSteps),
            }, progress);
            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(report.ToJson());
                return 0;
            }
            AnsiConsole.MarkupLineInterpolated(
                $"{report.Preset}: {report.WeightsBytes / 1e6:F0} MB of weights, read bandwidth {report.BandwidthGbs:F1} GB/s, prefill {report.PrefillTokensPerS:F0} tokens/s, GEMM {report.GemmGflops:F1} GFLOP/s");
            var table = new Table().AddColumns("batch", "tokens/s", "bound tokens/s", "of bound");
            foreach (var d in report.Decode)
                table.AddRow(d.Batch.ToString(), d.TokensPerS.ToString("F1"), d.BoundTokensPerS.ToString("F1"), d.FractionOfBound.ToString("P0"));
            AnsiConsole.Write(table);
            if (report.Steps.Count > 0)
                AnsiConsole.MarkupLineInterpolated($"{report.Steps.Count} timed step shapes (in --json: steps; fit them with `loraqueue twin profile fit`)");
            return 0;
        });
        return command;
    }

    /// <summary>"1,2,4" → [1, 2, 4]; "none" or "" → [].</summary>
    internal static int[] PositiveList(string text, string option)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Trim().Equals("none", StringComparison.OrdinalIgnoreCase)) return [];
        var values = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int v) || v < 1)
                throw new CliException($"{option} takes positive whole numbers separated by commas, or 'none' (got '{part}')");
            values.Add(v);
        }
        return [.. values];
    }

    private static Command PlacementCommand()
    {
        var d = new PlacementBenchOptions { CacheRoot = "" };
        var model = new Option<DirectoryInfo?>("--model") { Description = "Base model directory (default: the demo's cached 'small' model, generated if missing)" };
        var workers = new Option<int>("--workers") { Description = "In-process workers (1 to 8)", DefaultValueFactory = _ => d.Workers };
        var rate = new Option<double>("--rate") { Description = "Poisson arrival rate, jobs per second", DefaultValueFactory = _ => d.Rate };
        var duration = new Option<double>("--duration") { Description = "Seconds of arrivals per run (each run then drains)", DefaultValueFactory = _ => d.Duration.TotalSeconds };
        var seed = new Option<int>("--seed") { Description = "Seed of the workload (arrivals, lengths, adapter popularity)", DefaultValueFactory = _ => d.Seed };
        var trace = new Option<FileInfo?>("--trace")
        {
            Description = "Replay a request trace's requests arriving within --duration instead of Poisson arrivals at --rate: LoRAServe CSV, " +
                          "Azure LLM CSV, Mooncake JSON lines or a `jobs export` CSV (docs/workloads.md)",
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (progress goes to stderr)" };
        var cache = new Option<DirectoryInfo?>("--cache") { Description = "Where generated models and adapters are kept (default $LORAQUEUE_CACHE or ~/.cache/loraqueue)" };
        var command = new Command("placement",
            "loraserve vs replicate-all placement, with padded and segmented LoRA kernels: in-process workers, the same seeded workload through the rank queues")
        {
            model, workers, rate, duration, seed, trace, json, cache,
        };
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            double seconds = parse.GetValue(duration);
            if (!(seconds > 0 && double.IsFinite(seconds) && seconds <= 86_400))
                return CliOutput.Fail(error, $"--duration must be a positive number of seconds up to a day (got {seconds})");
            var options = d with
            {
                ModelPath = parse.GetValue(model)?.FullName,
                CacheRoot = parse.GetValue(cache)?.FullName ?? ModelCache.Root,
                Workers = parse.GetValue(workers),
                Rate = parse.GetValue(rate),
                Duration = TimeSpan.FromSeconds(seconds),
                Seed = parse.GetValue(seed),
                TracePath = parse.GetValue(trace)?.FullName,
            };
            if (options.Problem() is { } problem) return CliOutput.Fail(error, problem);
            bool asJson = parse.GetValue(json);
            try
            {
                var report = await PlacementBenchmark.RunAsync(options, CliOutput.ProgressLines(asJson ? error : output), ct);
                if (asJson) CliOutput.WriteJson(output, report);
                else PlacementBenchView.Write(CliOutput.ConsoleFor(output), report);
                return report.AllCompletedOnce ? 0 : 1;
            }
            catch (Exception e) when (e is IOException or ArgumentException or FormatException or UnauthorizedAccessException
                                           or PlacementInputException or LoRAQueue.History.AdapterRegistrationException)
            {
                return CliOutput.Fail(error, e.Message);
            }
        });
        return command;
    }
}
