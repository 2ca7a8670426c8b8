using System.CommandLine;
using LoRAQueue.Engine;
using LoRAQueue.Formats;
using LoRAQueue.Kernels;
using Spectre.Console;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue bench kernels|engine`: the project's measured performance claims.</summary>
internal static class BenchCommands
{
    public static Command Create()
    {
        var command = new Command("bench", "Measure kernels and the engine against bounds measured in the same run");
        command.Subcommands.Add(KernelsCommand());
        command.Subcommands.Add(EngineCommand());
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
        var command = new Command("engine", "Decode tokens/s at batch 1, 8, 32 against the memory-bandwidth bound; prefill and GEMM throughput")
        {
            json, model, preset,
        };
        command.SetAction(parse =>
        {
            var progress = CliOutput.ProgressLines();
            var name = parse.GetValue(preset)!;
            var dir = parse.GetValue(model)?.FullName ?? ModelCache.Ensure(name, progress);
            var report = EngineBenchmark.Run(dir, new EngineBenchOptions { Preset = parse.GetValue(model) is null ? name : null }, progress);
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
            return 0;
        });
        return command;
    }
}
