using System.CommandLine;
using LoRAQueue.Cli.Demo;
using LoRAQueue.History;
using LoRAQueue.InProcess;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue demo`: the whole pipeline in one process, no servers — the quick start.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var jobs = new Option<int>("--jobs") { Description = "Jobs to replay (with --trace: its first N requests)", DefaultValueFactory = _ => 300 };
        var workers = new Option<int>("--workers") { Description = "In-process workers, each serving a band of rank queues (1 to 6)", DefaultValueFactory = _ => 3 };
        var seed = new Option<int>("--seed") { Description = "Seed of the workload (arrivals, lengths, adapter choice)", DefaultValueFactory = _ => 1 };
        var trace = new Option<FileInfo?>("--trace")
        {
            Description = "Replay a request trace: LoRAServe CSV (adapters and ranks), Azure LLM CSV (TIMESTAMP,ContextTokens,GeneratedTokens), " +
                          "Mooncake JSON lines or a `jobs export` CSV; the format is recognised from the first line (docs/workloads.md)",
        };
        var speedup = new Option<double?>("--speedup") { Description = "Replay this many times faster than recorded (default: fit the replay into ~20 s)" };
        var kernel = new Option<string>("--kernel") { Description = "Multi-LoRA kernel", DefaultValueFactory = _ => "segmented" };
        kernel.AcceptOnlyFromAmong("segmented", "padded");
        var json = new Option<bool>("--json") { Description = "Print the summary as one JSON object (progress goes to stderr)" };
        var cache = new Option<DirectoryInfo?>("--cache") { Description = "Where the generated model and adapters are kept (default $LORAQUEUE_CACHE or ~/.cache/loraqueue)" };

        var command = new Command("demo", "Run the whole pipeline in this process (in-memory transport, history and registry) on a replayed workload")
        {
            jobs, workers, seed, trace, speedup, kernel, json, cache,
        };
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var options = new DemoOptions
            {
                Jobs = parse.GetValue(jobs),
                Workers = parse.GetValue(workers),
                Seed = parse.GetValue(seed),
                TracePath = parse.GetValue(trace)?.FullName,
                Speedup = parse.GetValue(speedup),
                Kernel = parse.GetValue(kernel)!,
                CacheRoot = parse.GetValue(cache)?.FullName ?? ModelCache.Root,
            };
            if (options.Jobs < 1) return CliOutput.Fail(error, $"--jobs must be at least 1 (got {options.Jobs})");
            if (options.Workers is < 1 or > 6) return CliOutput.Fail(error, $"--workers must be 1 to 6, one band of rank queues each (got {options.Workers})");
            if (options.Speedup is { } s && !(s > 0 && double.IsFinite(s))) return CliOutput.Fail(error, $"--speedup must be a positive number (got {s})");
            bool asJson = parse.GetValue(json);
            try
            {
                var console = CliOutput.ConsoleFor(output);
                var status = CliOutput.ProgressLines(asJson ? error : output);
                var outcome = await DemoRunner.RunAsync(options, asJson ? null : console, status, ct);
                if (asJson) CliOutput.WriteJson(output, outcome.Summary);
                else DemoView.Write(console, outcome.Summary);
                return outcome.Summary.AllCompleted ? 0 : 1;
            }
            catch (Exception e) when (e is FormatException or IOException or ArgumentException or AdapterRegistrationException
                                           or UnauthorizedAccessException)
            {
                return CliOutput.Fail(error, e.Message);
            }
        });
        return command;
    }
}
