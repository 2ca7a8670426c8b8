using System.CommandLine;
using System.Diagnostics;
using System.Reflection;
using LoRAQueue.Bench.Transfer;
using LoRAQueue.Ucx;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue bench transfer`: adapter-sized pulls between two processes over UCX, against memcpy and a socket.</summary>
internal static class TransferCommands
{
    public static IEnumerable<Command> Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object (progress goes to stderr)" };
        var sizes = new Option<string>("--sizes") { Description = "Sizes in MB, comma-separated", DefaultValueFactory = _ => "1,16,128,512" };
        var transfer = new Command("transfer",
            "Pull 1-512 MB from another process with UCX GETs over tcp and shared memory; memcpy and a plain socket stream measured in the same run")
        { json, sizes };
        transfer.SetAction(async (parse, ct) =>
        {
            var error = parse.InvocationConfiguration.Error;
            if (!UcxNode.IsAvailable(out var reason)) return CliOutput.Fail(error, reason);
            long[] bytes;
            try { bytes = [.. parse.GetValue(sizes)!.Split(',').Select(s => long.Parse(s.Trim(), System.Globalization.CultureInfo.InvariantCulture) << 20)]; }
            catch (FormatException) { return CliOutput.Fail(error, "--sizes takes MB numbers, e.g. 1,16,128,512"); }
            var report = await new TransferBench(StartHolder, CliOutput.ProgressLines(error)).RunAsync(bytes);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) CliOutput.WriteJson(output, report);
            else
            {
                output.WriteLine($"UCX {report.UcxVersion}; memcpy {report.MemcpyGbps:F2} GB/s, plain socket {report.SocketGbps:F2} GB/s");
                output.WriteLine("| transport | size | pull ms | GB/s | of memcpy | of socket |");
                output.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: |");
                foreach (var c in report.Cases)
                    output.WriteLine($"| {c.Transport} | {c.SizeBytes >> 20} MB | {c.PullMs:F1} | {c.Gbps:F2} | {c.Gbps / report.MemcpyGbps:P0} | {c.Gbps / report.SocketGbps:P0} |");
            }
            return 0;
        });

        // The other process of a transfer run (started by `transfer`, not by hand).
        var size = new Option<long>("--size") { Required = true };
        var transports = new Option<string?>("--transports");
        var holder = new Command("transfer-holder", "Hold bytes for `bench transfer` to pull (started by it)") { size, transports };
        holder.Hidden = true;
        holder.SetAction((parse, _) => TransferHolder.RunAsync(parse.GetValue(size), parse.GetValue(transports), Console.In, Console.Out));
        return [transfer, holder];
    }

    /// <summary>This same executable in holder mode, with stdin and stdout piped to the bench.</summary>
    private static Process StartHolder(long size, string transports)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        foreach (var a in (string[])["bench", "transfer-holder", "--size", size.ToString(System.Globalization.CultureInfo.InvariantCulture), "--transports", transports])
            start.ArgumentList.Add(a);
        return Process.Start(start)!;
    }
}
