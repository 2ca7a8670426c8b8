using BenchmarkDotNet.Running;

// `-- --filter '*'` runs everything; `-- --list flat` names the benchmarks; `-- --job short` for a quick look.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
