using System.CommandLine;

namespace LoRAQueue.Cli.Commands;

/// <summary>The root command; tests invoke it in-process with their own output writers.</summary>
internal static class CliApp
{
    public static RootCommand Create() => new("LoRAQueue: rank-aware multi-LoRA batch inference")
    {
        ModelCommands.Create(),
        AdapterCommands.Create(),
        GenerateCommand.Create(),
        BenchCommands.Create(),
        DemoCommand.Create(),
        DatabaseCommands.Create(),
        JobsCommands.Create(),
        WorkloadCommands.Create(),
        PlacementCommands.Create(),
        TenantCommands.Create(),
        SubmitCommand.Create(),
        ServeCommand.Create(),
        DeadLetterCommands.Create(),
        TwinCommands.Create(),
    };

    /// <summary>Runs one command line with stdout/stderr going to the given writers; returns the exit code.</summary>
    public static Task<int> InvokeAsync(string[] args, TextWriter output, TextWriter error, CancellationToken ct = default) =>
        Create().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, ct);
}
