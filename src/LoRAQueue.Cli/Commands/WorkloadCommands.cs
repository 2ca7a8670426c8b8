using System.CommandLine;
using System.Globalization;
using LoRAQueue.Workloads;
using Spectre.Console;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue workload generate|describe`: workloads for the benches, the demo and the digital twin (docs/workloads.md).</summary>
internal static class WorkloadCommands
{
    public static readonly IReadOnlyList<string> Kinds = ["poisson", "gamma", "production", "trace"];
    public const double DefaultDuration = 600, DefaultGammaCv = 2;

    public static Command Create()
    {
        var command = new Command("workload", "Generate request workloads (LoRAServe CSV) and describe any trace");
        command.Subcommands.Add(GenerateCommand());
        command.Subcommands.Add(DescribeCommand());
        return command;
    }

    private static Command GenerateCommand()
    {
        var kind = new Option<string>("--kind")
        {
            Description = "poisson | gamma (--cv) | production (ServeGen clients from --from-data) | trace (adapters assigned to --from-trace)",
            DefaultValueFactory = _ => "poisson",
        };
        kind.AcceptOnlyFromAmong([.. Kinds]);
        var rate = new Option<double?>("--rate") { Description = "Mean arrival rate, requests/s (poisson, gamma; production: scales the data's rates, default as recorded)" };
        var duration = new Option<double?>("--duration") { Description = $"Seconds of arrivals (default {DefaultDuration}; trace: the whole trace)" };
        var adapters = new Option<int>("--adapters") { Description = "Adapters (production: the busiest clients)", DefaultValueFactory = _ => 100 };
        var alpha = new Option<double>("--alpha") { Description = "Zipf exponent of adapter popularity, 0 = uniform (not production: popularity is the data's)", DefaultValueFactory = _ => 1.0 };
        var ranks = new Option<string>("--ranks") { Description = "Rank mix over the adapters: 8:0.4,16:0.3,32:0.3 or 8,16,32 (equal shares)", DefaultValueFactory = _ => "8,16,32,64,128" };
        var cv = new Option<double?>("--cv") { Description = $"Coefficient of variation of the gaps (gamma; default {DefaultGammaCv})" };
        var fromData = new Option<DirectoryInfo?>("--from-data") { Description = $"Folder with {ProductionWorkload.RatesFile} and {ProductionWorkload.LengthsFile} (production)" };
        var dataModel = new Option<string>("--data-model") { Description = "ServeGen model whose clients become adapters (production)", DefaultValueFactory = _ => "m-large" };
        var start = new Option<double>("--start") { Description = "Seconds into the data's timeline (production)", DefaultValueFactory = _ => 0 };
        var fromTrace = new Option<FileInfo?>("--from-trace") { Description = "Trace whose arrivals and lengths are kept (trace): any format `workload describe` reads" };
        var lengthsFrom = new Option<FileInfo?>("--lengths-from") { Description = "Draw (input, output) lengths from this trace's requests (any format) instead of fixed ones" };
        var input = new Option<int>("--input-tokens") { Description = "Fixed prompt length", DefaultValueFactory = _ => 512 };
        var output = new Option<int>("--output-tokens") { Description = "Fixed output length", DefaultValueFactory = _ => 128 };
        var maxRows = new Option<int?>("--max-rows") { Description = "Read at most this many requests of --from-trace / --lengths-from" };
        var seed = new Option<int>("--seed") { Description = "Seed (arrivals, lengths and adapters each draw from their own stream)", DefaultValueFactory = _ => 1 };
        var outFile = new Option<FileInfo>("--out") { Description = "The LoRAServe CSV to write (replay it with demo/bench placement --trace)", Required = true };
        var command = new Command("generate", "Generate a workload and write it as LoRAServe CSV (req_id,model_dir,adapter_dir,prompt_len,output_len,req_time)")
        {
            kind, rate, duration, adapters, alpha, ranks, cv, fromData, dataModel, start, fromTrace, lengthsFrom, input, output, maxRows, seed, outFile,
        };
        command.SetAction(parse => Run(parse, () =>
        {
            var k = parse.GetValue(kind)!;
            var mix = RankMix.Parse(parse.GetValue(ranks)!);
            int n = parse.GetValue(adapters), rows = parse.GetValue(maxRows) ?? int.MaxValue;
            if (n < 1) throw new CliException($"--adapters must be at least 1 (got {n})");
            if (rows < 1) throw new CliException($"--max-rows must be at least 1 (got {rows})");
            double a = parse.GetValue(alpha);
            if (!(a >= 0 && double.IsFinite(a))) throw new CliException($"--alpha must be a number ≥ 0 (got {a})");
            double? r = parse.GetValue(rate), d = parse.GetValue(duration), c = parse.GetValue(cv);
            if (r is { } rv && !(rv > 0 && double.IsFinite(rv))) throw new CliException($"--rate must be a positive number of requests per second (got {rv})");
            if (d is { } dv && !(dv > 0 && dv <= 30 * 86_400)) throw new CliException($"--duration must be a positive number of seconds up to 30 days (got {dv})");
            if (c is not null && k != "gamma") throw new CliException("--cv is for --kind gamma");
            if (c is { } cvv && !(cvv > 0 && double.IsFinite(cvv))) throw new CliException($"--cv must be a positive number (got {cvv})");
            if (parse.GetValue(fromData) is not null && k != "production") throw new CliException("--from-data is for --kind production");
            if (parse.GetValue(fromTrace) is not null && k != "trace") throw new CliException("--from-trace is for --kind trace");
            int? rowsOrNull = rows == int.MaxValue ? null : rows;
            LengthModel? lengths = parse.GetValue(lengthsFrom) is { } lf ? LengthModel.Empirical(TraceReader.Read(lf.FullName, rowsOrNull)) : null;
            int s = parse.GetValue(seed);
            var span = TimeSpan.FromSeconds(d ?? DefaultDuration);

            Workload workload;
            switch (k)
            {
                case "poisson" or "gamma":
                    if (r is null) throw new CliException($"--kind {k} needs --rate");
                    workload = WorkloadGenerator.Generate(new SyntheticWorkloadOptions
                    {
                        Kind = k == "poisson" ? ArrivalKind.Poisson : ArrivalKind.Gamma, Rate = r.Value, Duration = span,
                        Cv = k == "poisson" ? 1 : c ?? DefaultGammaCv, Adapters = n, Alpha = a, Ranks = mix,
                        Lengths = lengths ?? LengthModel.Fixed(parse.GetValue(input), parse.GetValue(output)), Seed = s,
                    });
                    break;
                case "production":
                    var dir = parse.GetValue(fromData) ?? throw new CliException("--kind production needs --from-data DIR (the folder with the ServeGen files)");
                    double st = parse.GetValue(start);
                    if (!(st >= 0 && double.IsFinite(st))) throw new CliException($"--start must be a number of seconds ≥ 0 (got {st})");
                    workload = ProductionWorkload.Generate(new ProductionWorkloadOptions
                    {
                        DataDirectory = dir.FullName, Model = parse.GetValue(dataModel)!, Start = TimeSpan.FromSeconds(st), Duration = span, Rate = r,
                        Adapters = n, Ranks = mix, Lengths = lengths, Seed = s,
                    });
                    break;
                default:
                    var source = parse.GetValue(fromTrace) ?? throw new CliException("--kind trace needs --from-trace FILE");
                    if (r is not null) throw new CliException("--rate is not for --kind trace: the trace's arrivals are kept");
                    var trace = TraceReader.Read(source.FullName, rowsOrNull);
                    if (d is not null) trace = trace.With($"{trace.Description}, the first {d:G6} s", trace.Requests.Where(q => q.Arrival < span));
                    if (lengths is not null)
                    {
                        var draw = new Random(s + 1);
                        trace = trace.With($"{trace.Description}, {lengths.Description}",
                            trace.Requests.Select(q =>
                            {
                                var (i, o) = lengths.Draw(draw);
                                return q with { InputTokens = i, OutputTokens = o };
                            }));
                    }
                    if (trace.Requests.Count == 0) throw new CliException($"{source.Name}: no request arrives within --duration {d:G6} s");
                    workload = AdapterAssignment.AssignTo(trace, n, a, mix, s);
                    break;
            }
            if (workload.Requests.Count == 0) throw new CliException("the workload has no requests: raise --rate or --duration");
            var path = parse.GetValue(outFile)!.FullName;
            LoRAServeCsv.Write(workload, path);
            var summary = WorkloadSummary.Of(workload);
            var writer = parse.InvocationConfiguration.Output;
            writer.WriteLine(workload.Description);
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {summary.Requests} requests over {summary.DurationSeconds:F1} s ({summary.RatePerSecond:F2} req/s), {summary.Adapters} adapters, to {path}"));
            return 0;
        }));
        return command;
    }

    private static Command DescribeCommand()
    {
        var file = new Argument<FileInfo>("file") { Description = "A trace: LoRAServe CSV, Azure LLM CSV, Mooncake JSON lines or a `jobs export` CSV" };
        var format = new Option<string>("--format") { Description = "auto (from the first line) or loraserve, azure, mooncake, jobs", DefaultValueFactory = _ => "auto" };
        format.AcceptOnlyFromAmong(["auto", .. TraceFormats.ByName.Keys]);
        var maxRows = new Option<int?>("--max-rows") { Description = "Read only the first N requests" };
        var json = new Option<bool>("--json") { Description = "Print the summary as one JSON object" };
        var command = new Command("describe", "Format, requests, duration, rate, length percentiles, adapters and the rank histogram of a trace")
        {
            file, format, maxRows, json,
        };
        command.SetAction(parse => Run(parse, () =>
        {
            var f = parse.GetValue(format)!;
            if (parse.GetValue(maxRows) is < 1) throw new CliException($"--max-rows must be at least 1 (got {parse.GetValue(maxRows)})");
            var workload = TraceReader.Read(parse.GetValue(file)!.FullName, parse.GetValue(maxRows), f == "auto" ? null : TraceFormats.ByName[f]);
            var summary = WorkloadSummary.Of(workload);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(output, summary);
                return 0;
            }
            Write(CliOutput.ConsoleFor(output), summary);
            return 0;
        }));
        return command;
    }

    public static void Write(IAnsiConsole console, WorkloadSummary s)
    {
        static string F(double v, string format = "F1") => v.ToString(format, CultureInfo.InvariantCulture);
        static string Lengths(LengthStats l) => $"mean {F(l.Mean)}, p50 {l.P50}, p99 {l.P99}, max {l.Max}";
        console.WriteLine(s.Description);
        var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
        void Row(string name, string value) => grid.AddRow(new Text(name, new Style(decoration: Decoration.Bold)), new Text(value));
        Row("format", s.Format);
        Row("requests", s.Requests.ToString(CultureInfo.InvariantCulture));
        Row("duration", $"{F(s.DurationSeconds)} s");
        Row("rate", $"{F(s.RatePerSecond, "F3")} req/s" + (s.InterArrivalCv is { } cv ? $" (inter-arrival CV {F(cv, "F2")})" : ""));
        Row("input tokens", Lengths(s.Input));
        Row("output tokens", Lengths(s.Output));
        Row("adapters", s.Adapters == 0
            ? "none named (assign some: workload generate --kind trace --from-trace FILE)"
            : s.Adapters.ToString(CultureInfo.InvariantCulture) + (s.TopAdapterShare is { } top ? $" (the busiest has {F(top * 100)}% of requests)" : ""));
        console.Write(grid);
        if (s.Adapters == 0) return;
        var table = new Table().AddColumns("rank", "adapters", "requests", "share");
        foreach (var r in s.Ranks)
            table.AddRow(r.Rank?.ToString(CultureInfo.InvariantCulture) ?? "none", r.Adapters.ToString(CultureInfo.InvariantCulture),
                r.Requests.ToString(CultureInfo.InvariantCulture), $"{F(100.0 * r.Requests / Math.Max(1, s.Requests))}%");
        foreach (int column in new[] { 1, 2, 3 }) table.Columns[column].RightAligned();
        console.Write(table);
    }

    /// <summary>The user's mistakes and unreadable files become one "error: …" line and exit code 1.</summary>
    private static int Run(ParseResult parse, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is CliException or FormatException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            return CliOutput.Fail(parse.InvocationConfiguration.Error, e.Message);
        }
    }
}
