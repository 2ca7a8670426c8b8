using System.CommandLine;
using System.Globalization;
using LoRAQueue.Core.Costs;
using LoRAQueue.Worker;
using Spectre.Console;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue twin profile fit|show`: the digital twin's accelerator profiles (docs/cost-model.md).</summary>
internal static class TwinCommands
{
    public static Command Create()
    {
        var twin = new Command("twin", "The digital twin: a fleet on a virtual clock (run, capacity) and the accelerator profiles of its step-cost model");
        foreach (var command in Twin.TwinRunCommands.Create()) twin.Subcommands.Add(command);
        var profile = new Command("profile", "Accelerator profiles: fit one from this machine's benchmarks, or show one");
        profile.Subcommands.Add(FitCommand());
        profile.Subcommands.Add(ShowCommand());
        twin.Subcommands.Add(profile);
        return twin;
    }

    private static Command FitCommand()
    {
        var engine = new Option<FileInfo>("--engine") { Description = "`loraqueue bench engine --json` output (with its per-step sweep)", Required = true };
        var kernels = new Option<FileInfo?>("--kernels") { Description = "`loraqueue bench kernels --json` output (LoRA cross-check; the LoRA price when the engine report has no LoRA steps)" };
        var transfer = new Option<FileInfo?>("--transfer") { Description = "`loraqueue bench transfer --json` output: the adapter load line" };
        var transport = new Option<string>("--transport") { Description = "Which transfer transport to fit", DefaultValueFactory = _ => "tcp am" };
        var output = new Option<FileInfo>("--out") { Description = "Profile file to write", Required = true };
        var name = new Option<string>("--name") { Description = "Profile name", DefaultValueFactory = _ => "cpu" };
        var weighting = new Option<string>("--weighting")
        {
            Description = "relative: weighted least squares with weights 1/measured² (minimises relative error, so a 10 ms decode step counts as much as a 2 s prefill); ols: ordinary least squares on the step times",
            DefaultValueFactory = _ => "relative",
        };
        weighting.AcceptOnlyFromAmong("relative", "ols");
        var form = new Option<string>("--form") { Description = "Model form to fit: linear, roofline (T = overhead + max(weight stream, token work) + …; the weight stream fitted by a grid search), or auto (both: the roofline is kept when its objective is smaller by more than 0.1 %)", DefaultValueFactory = _ => "auto" };
        form.AcceptOnlyFromAmong("auto", "linear", "roofline");
        var statistic = new Option<string>("--statistic") { Description = "Which time of each measured step to fit: min (its fastest timed step: other processes on a shared machine only ever add time) or median", DefaultValueFactory = _ => "min" };
        statistic.AcceptOnlyFromAmong("median", "min");
        var defaults = new WorkerOptions();
        var kvTokens = new Option<long?>("--kv-tokens") { Description = $"KV capacity in tokens (default: the worker's KvCacheMb default, {defaults.KvCacheMb} MiB, ÷ the model's KV bytes per token)" };
        var maxBatch = new Option<int?>("--max-batch") { Description = $"Most sequences per step (default: the worker's MaxSequences default, {defaults.MaxSequences})" };
        var command = new Command("fit", "Fit the linear step-cost model to bench reports by least squares; print coefficients, R² and each point's error; write the profile")
        {
            engine, kernels, transfer, transport, output, name, weighting, form, statistic, kvTokens, maxBatch,
        };
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            try
            {
                var enginePath = parse.GetValue(engine)!.FullName;
                var engineReport = BenchReports.ReadEngine(File.ReadAllText(enginePath), enginePath);
                var kernelsPath = parse.GetValue(kernels)?.FullName;
                var kernelReport = kernelsPath is null ? null : BenchReports.ReadKernels(File.ReadAllText(kernelsPath), kernelsPath);
                var transferPath = parse.GetValue(transfer)?.FullName;
                var transferReport = transferPath is null ? null : BenchReports.ReadTransfer(File.ReadAllText(transferPath), transferPath);
                var model = engineReport.Model!;

                long kv = parse.GetValue(kvTokens) ?? ((long)defaults.KvCacheMb << 20) / model.KvBytesPerToken;
                string kvSource = parse.GetValue(kvTokens) is { } given
                    ? $"--kv-tokens {given} on the command line"
                    : $"the worker's default LoRAQueue:Worker:KvCacheMb ({defaults.KvCacheMb} MiB) ÷ {model.KvBytesPerToken} bytes of F32 K and V per token of this model";
                int batch = parse.GetValue(maxBatch) ?? defaults.MaxSequences;
                string batchSource = parse.GetValue(maxBatch) is { } b
                    ? $"--max-batch {b} on the command line"
                    : $"the worker's default LoRAQueue:Worker:MaxSequences ({defaults.MaxSequences})";
                string profileName = parse.GetValue(name)!;
                var result = ProfileFit.Fit(engineReport, kernelReport, transferReport, new ProfileFitOptions
                {
                    Name = profileName,
                    Accelerator = $"cpu: {Environment.ProcessorCount} cores",
                    RelativeWeights = parse.GetValue(weighting) == "relative",
                    Form = parse.GetValue(form) switch { "linear" => StepCostForm.Linear, "roofline" => StepCostForm.Roofline, _ => null },
                    UseMinimum = parse.GetValue(statistic) == "min",
                    KvTokens = kv,
                    KvTokensSource = kvSource,
                    MaxBatch = batch,
                    MaxBatchSource = batchSource,
                    TransferTransport = parse.GetValue(transport)!,
                    EngineSource = $"{Path.GetFileName(enginePath)} (`loraqueue bench engine --json`)",
                    KernelsSource = kernelsPath is null ? null : $"{Path.GetFileName(kernelsPath)} (`loraqueue bench kernels --json`)",
                    TransferSource = transferPath is null ? null : $"{Path.GetFileName(transferPath)} (`loraqueue bench transfer --json`)",
                });
                var outPath = parse.GetValue(output)!.FullName;
                AcceleratorProfiles.Save(result.Profile, outPath);
                WriteFit(CliOutput.ConsoleFor(stdout), result);
                stdout.WriteLine($"wrote {outPath}");
                return 0;
            }
            catch (Exception e) when (e is IOException or FormatException or ArgumentException or UnauthorizedAccessException or ProfileValidationException)
            {
                return CliOutput.Fail(error, e.Message);
            }
        });
        return command;
    }

    private static Command ShowCommand()
    {
        var profile = new Argument<string>("profile") { Description = $"A built-in profile ({string.Join(", ", AcceleratorProfiles.BuiltinNames)}) or a profile file" };
        var json = new Option<bool>("--json") { Description = "Print the profile's JSON" };
        var command = new Command("show", "Print a profile: coefficients, capacity, adapter load, operating points (measured and the model's), fit and sources")
        {
            profile, json,
        };
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            try
            {
                var p = AcceleratorProfiles.Resolve(parse.GetValue(profile)!);
                if (parse.GetValue(json)) stdout.WriteLine(AcceleratorProfiles.ToJson(p));
                else WriteProfile(CliOutput.ConsoleFor(stdout), p);
                return 0;
            }
            catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or ProfileValidationException)
            {
                return CliOutput.Fail(parse.InvocationConfiguration.Error, e.Message);
            }
        });
        return command;
    }

    static string N(double value, string format = "G4") => value.ToString(format, CultureInfo.InvariantCulture);

    internal static void WriteFit(IAnsiConsole console, ProfileFitResult result)
    {
        var steps = result.Steps;
        console.WriteLine($"fit: {steps.Form.ToString().ToLowerInvariant()} form, {(steps.RelativeWeights ? "weighted (relative)" : "ordinary")} least squares, coefficients ≥ 0, over {steps.Points.Count} steps: " +
                          $"R² {N(steps.RSquared, "F4")}, max |relative error| {N(steps.MaxRelativeError * 100, "F1")} %, mean {N(steps.MeanRelativeError * 100, "F1")} %");
        var table = new Table().AddColumns("step", "measured ms", "model ms", "error");
        foreach (var p in steps.Points)
            table.AddRow(Markup.Escape(p.Label) + (steps.MemoryBound.Contains(p.Label) ? " (memory-bound)" : ""),
                N(p.Measured * 1e3, "F3"), N(p.Predicted * 1e3, "F3"), N(p.RelativeError * 100, "+0.0;-0.0") + " %");
        console.Write(table);
        if (result.Kernels is { } k)
        {
            console.WriteLine($"kernels: per-module line {N(k.FixedMs * 1e3, "F1")} µs + {N(k.MsPerTokenRank * 1e6, "F2")} ns per token-rank " +
                              $"({k.Hidden}×{k.Hidden} module), R² {N(k.RSquared, "F4")}, max |relative error| {N(k.MaxRelativeError * 100, "F1")} %");
        }
        foreach (var note in result.Notes) console.WriteLine("note: " + note);
        WriteCoefficients(console, result.Profile);
    }

    internal static void WriteProfile(IAnsiConsole console, AcceleratorProfile p)
    {
        var m = p.Model!;
        console.WriteLine($"{p.Name}: {p.Form.ToString().ToLowerInvariant()} form; model {m.Name ?? "?"} (hidden {m.HiddenSize}, {m.Layers} layers, " +
                          $"{N(m.Parameters / 1e9, "F3")} B parameters, {N(m.WeightBytes / 1e9, "F2")} GB of weights, {m.KvBytesPerToken} B of KV per token, " +
                          $"{N(m.LoraBytesPerRank / 1048576.0, "F3")} MiB of adapter per rank)");
        if (p.Description is { } d) console.WriteLine(d);
        if (p.Hardware is { } h)
            console.WriteLine($"hardware: {h.Accelerator ?? "?"}, {N(h.MemoryBandwidthGbs, "#,0.#")} GB/s, {N(h.PeakGflops, "#,0.#")} GFLOP/s");
        WriteCoefficients(console, p);
        var model = new LinearStepCostModel(p);
        console.WriteLine($"capacity: {p.Capacity!.KvTokens} KV tokens, {p.Capacity.MaxBatch} sequences; adapter load {N(p.AdapterLoad!.ConstantMs)} ms + bytes ÷ {N(p.AdapterLoad.BandwidthGbs)} GB/s " +
                          $"(rank 8: {N(model.AdapterLoadTime(model.AdapterBytes(8)).TotalMilliseconds, "F1")} ms, rank 128: {N(model.AdapterLoadTime(model.AdapterBytes(128)).TotalMilliseconds, "F1")} ms)");
        var examples = new Table().AddColumns("example step", "segmented ms", "padded ms");
        foreach (var (label, shape) in ExampleSteps())
            examples.AddRow(label, N(model.StepTime(shape, LoraKernelKind.Segmented).TotalMilliseconds, "F2"), N(model.StepTime(shape, LoraKernelKind.Padded).TotalMilliseconds, "F2"));
        console.Write(examples);
        if (p.OperatingPoints is { } op)
        {
            var table = new Table().AddColumns("rank", "operating point tokens/s", "model tokens/s", "error");
            foreach (var (rank, measured, estimated) in OperatingPointEstimate.Compare(model, op))
                table.AddRow(rank.ToString(CultureInfo.InvariantCulture), N(measured, "F0"), N(estimated, "F0"), N((estimated - measured) / measured * 100, "+0.0;-0.0") + " %");
            console.WriteLine($"operating points (prompt {op.PromptTokens}, output {op.OutputTokens}, batch {op.Batch}):");
            console.Write(table);
        }
        if (p.Fit is { } fit)
            console.WriteLine($"fit: {fit.Method ?? "?"}, {fit.Points} points, R² {N(fit.RSquared, "F4")}, max |relative error| {N(fit.MaxRelativeError * 100, "F1")} %, mean {N(fit.MeanRelativeError * 100, "F1")} %");
        var sources = new Table().AddColumns("figure", "source");
        // The coefficients' sources are in the coefficient table above.
        foreach (var s in p.Sources.Where(s => !s.Figure.StartsWith("coefficients.", StringComparison.Ordinal)))
            sources.AddRow(Markup.Escape(s.Figure), Markup.Escape(s.Source));
        console.Write(sources);
    }

    static void WriteCoefficients(IAnsiConsole console, AcceleratorProfile p)
    {
        var c = p.Coefficients!;
        var table = new Table().AddColumns("coefficient", "value", "unit", "source");
        void Row(string field, double value, string unit) =>
            table.AddRow(field, N(value), unit, Markup.Escape(SourceOf(p, "coefficients." + field)));
        Row("overhead_ms", c.OverheadMs, "ms per step");
        Row("weight_read_ms", c.WeightReadMs, p.Form == StepCostForm.Roofline ? "ms per step (floor of the token work)" : "ms per step (added)");
        Row("prefill_us_per_token", c.PrefillUsPerToken, "µs per prompt token");
        Row("decode_us_per_token", c.DecodeUsPerToken, "µs per decoding sequence");
        Row("kv_us_per_token", c.KvUsPerToken, "µs per KV token read");
        Row("lora_us_per_token_rank", c.LoraUsPerTokenRank, "µs per token × rank");
        console.Write(table);
    }

    static string SourceOf(AcceleratorProfile p, string figure) =>
        p.Sources.Where(s => AcceleratorProfiles.Covers(s.Figure, figure)).OrderByDescending(s => s.Figure.Length).Select(s => s.Source).FirstOrDefault() ?? "?";

    static IEnumerable<(string, StepShape)> ExampleSteps()
    {
        yield return ("decode batch 1, context 512, base", new StepShape(0, 1, 512, [new LoraSegment(1, 0)]));
        yield return ("decode batch 32, context 512, rank 16", new StepShape(0, 32, 32 * 512, [new LoraSegment(32, 16)]));
        yield return ("decode batch 32, context 512, 16 × rank 8 + 16 × rank 128",
            new StepShape(0, 32, 32 * 512, [new LoraSegment(16, 8), new LoraSegment(16, 128)]));
        yield return ("prefill 512, rank 16", new StepShape(512, 0, 512, [new LoraSegment(512, 16)]));
    }
}
