using System.CommandLine;
using LoRAQueue.Cli.Commands;

// `loraqueue`: one binary for every role; each sub-command lives in Commands/.
var root = new RootCommand("LoRAQueue: rank-aware multi-LoRA batch inference")
{
    ModelCommands.Create(),
    AdapterCommands.Create(),
    GenerateCommand.Create(),
    BenchCommands.Create(),
};
return await root.Parse(args).InvokeAsync();
