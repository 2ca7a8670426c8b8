using System.CommandLine;
using LoRAQueue.Formats;
using Spectre.Console;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue model create|inspect`: random-weight base models in the Hugging Face layout.</summary>
internal static class ModelCommands
{
    public static Command Create()
    {
        var command = new Command("model", "Create or inspect base models");
        command.Subcommands.Add(CreateCommand());
        command.Subcommands.Add(InspectCommand());
        return command;
    }

    private static Command CreateCommand()
    {
        var preset = new Option<string>("--preset")
        {
            Description = $"Model shape: {string.Join(", ", SyntheticModel.Presets.Keys)}",
            Required = true,
        };
        preset.AcceptOnlyFromAmong([.. SyntheticModel.Presets.Keys]);
        var output = new Option<DirectoryInfo>("--out") { Description = "Directory to write the model to", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Random seed: the same seed writes the same bytes", DefaultValueFactory = _ => 0 };
        var dtype = new Option<string?>("--dtype") { Description = "Weight dtype (F32, F16, BF16); default per preset" };

        var command = new Command("create", "Write a random-weight Llama-family model with a tokenizer") { preset, output, seed, dtype };
        command.SetAction(parse =>
        {
            try
            {
                var dir = parse.GetValue(output)!.FullName;
                var type = parse.GetValue(dtype) is { } d ? DTypes.Parse(d) : (DType?)null;
                var name = parse.GetValue(preset)!;
                AnsiConsole.Progress().Start(ctx =>
                {
                    var task = ctx.AddTask($"model {name}", maxValue: 1.0);
                    SyntheticModel.Create(name, dir, parse.GetValue(seed), type, new InlineProgress(p => task.Value = p));
                    task.Value = 1.0;
                });
                Console.WriteLine(dir);
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or FormatException or IOException)
            {
                return CliOutput.Fail(e);
            }
        });
        return command;
    }

    private static Command InspectCommand()
    {
        var model = new Argument<DirectoryInfo>("model") { Description = "Model directory" };
        var command = new Command("inspect", "Print a model's configuration and tensors") { model };
        command.SetAction(parse =>
        {
            try
            {
                var dir = parse.GetValue(model)!.FullName;
                var config = ModelConfig.Load(dir);
                using var weights = ModelWeights.Open(dir);
                AnsiConsole.MarkupLineInterpolated($"[bold]{config.ModelType}[/] hidden {config.HiddenSize}, layers {config.NumHiddenLayers}, heads {config.NumAttentionHeads}/{config.NumKeyValueHeads} kv, vocab {config.VocabSize}");
                var table = new Table().AddColumns("tensor", "dtype", "shape", "bytes");
                long total = 0;
                foreach (var name in weights.Names.OrderBy(n => n, StringComparer.Ordinal))
                {
                    var info = weights.Info(name);
                    total += info.ByteLength;
                    table.AddRow(name, DTypes.Name(info.DType), string.Join("×", info.Shape), info.ByteLength.ToString("N0"));
                }
                AnsiConsole.Write(table);
                AnsiConsole.MarkupLineInterpolated($"weights: {total:N0} bytes");
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or FormatException or IOException)
            {
                return CliOutput.Fail(e);
            }
        });
        return command;
    }
}

/// <summary>Reports on the caller's thread (Spectre's progress display is not thread-safe).</summary>
internal sealed class InlineProgress(Action<double> report) : IProgress<double>
{
    public void Report(double value) => report(value);
}
