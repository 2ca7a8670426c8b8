using LoRAQueue.Cli.Commands;

// `loraqueue`: one binary for every role; each sub-command lives in Commands/.
return await CliApp.Create().Parse(args).InvokeAsync();
