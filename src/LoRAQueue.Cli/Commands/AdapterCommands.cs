using System.CommandLine;
using LoRAQueue.Formats;
using Spectre.Console;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue adapter create|inspect|register|list`: PEFT LoRA adapters for a base model, and their registry.</summary>
internal static class AdapterCommands
{
    public static Command Create()
    {
        var command = new Command("adapter", "Create, inspect, register or list PEFT LoRA adapters");
        command.Subcommands.Add(CreateCommand());
        command.Subcommands.Add(InspectCommand());
        command.Subcommands.Add(AdapterRegistryCommands.RegisterCommand());
        command.Subcommands.Add(AdapterRegistryCommands.ListCommand());
        command.Subcommands.Add(AdapterWhereCommand.Create());
        return command;
    }

    private static Command CreateCommand()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Base model directory", Required = true };
        var rank = new Option<int>("--rank") { Description = "LoRA rank r", Required = true };
        var targets = new Option<string[]>("--targets")
        {
            Description = "Target modules (default q_proj k_proj v_proj o_proj)",
            AllowMultipleArgumentsPerToken = true,
        };
        var rankPattern = new Option<string[]>("--rank-pattern")
        {
            Description = "Per-module ranks as module=rank, e.g. v_proj=4 o_proj=32",
            AllowMultipleArgumentsPerToken = true,
        };
        var alpha = new Option<double?>("--alpha") { Description = "lora_alpha (default: the rank, so the scale is 1)" };
        var rslora = new Option<bool>("--rslora") { Description = "Scale by alpha/sqrt(r) instead of alpha/r" };
        var output = new Option<DirectoryInfo>("--out") { Description = "Directory to write the adapter to", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0 };

        var command = new Command("create", "Write a random PEFT adapter for a base model")
        {
            model, rank, targets, rankPattern, alpha, rslora, output, seed,
        };
        command.SetAction(parse =>
        {
            try
            {
                var r = parse.GetValue(rank);
                if (r <= 0) throw new ArgumentException($"--rank must be positive, got {r}");
                var patterns = ParseRankPattern(parse.GetValue(rankPattern));
                var list = parse.GetValue(targets) is { Length: > 0 } t ? t.SelectMany(SplitList).ToArray() : null;
                var dir = parse.GetValue(output)!.FullName;
                SyntheticAdapter.Create(parse.GetValue(model)!.FullName, r, list, dir, parse.GetValue(seed),
                    patterns, parse.GetValue(alpha), parse.GetValue(rslora));
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
        var adapter = new Argument<DirectoryInfo>("adapter") { Description = "Adapter directory" };
        var model = new Option<DirectoryInfo>("--model") { Description = "Base model directory to validate against", Required = true };
        var command = new Command("inspect", "Validate an adapter against its base model and print its modules") { adapter, model };
        command.SetAction(parse =>
        {
            try
            {
                var config = ModelConfig.Load(parse.GetValue(model)!.FullName);
                var lora = LoraAdapter.Load(parse.GetValue(adapter)!.FullName, config);
                foreach (var warning in lora.Warnings) AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {warning}");
                var table = new Table().AddColumns("layer", "module", "rank", "scale", "shape");
                foreach (var m in lora.Modules)
                    table.AddRow(m.Layer.ToString(), m.Module, m.Rank.ToString(), m.Scale.ToString("G4"), $"{m.Out}×{m.In}");
                AnsiConsole.Write(table);
                AnsiConsole.MarkupLineInterpolated($"max rank {lora.MaxRank}, {lora.SizeBytes:N0} bytes");
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or FormatException or IOException)
            {
                return CliOutput.Fail(e);
            }
        });
        return command;
    }

    private static IEnumerable<string> SplitList(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static Dictionary<string, int>? ParseRankPattern(string[]? entries)
    {
        if (entries is null || entries.Length == 0) return null;
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in entries.SelectMany(SplitList))
        {
            var parts = entry.Split('=', 2);
            if (parts.Length != 2 || !int.TryParse(parts[1], out var r) || r <= 0)
                throw new ArgumentException($"--rank-pattern entry '{entry}' is not module=rank with a positive rank");
            result[parts[0]] = r;
        }
        return result;
    }
}
