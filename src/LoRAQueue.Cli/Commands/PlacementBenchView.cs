using System.Globalization;
using LoRAQueue.Bench;
using LoRAQueue.Core;
using Spectre.Console;

namespace LoRAQueue.Cli.Commands;

/// <summary>The placement benchmark for people: a table per run, then the summary (the README's table).</summary>
internal static class PlacementBenchView
{
    public static void Write(IAnsiConsole console, PlacementBenchReport report)
    {
        console.WriteLine();
        console.MarkupLineInterpolated($"[bold]{report.Workload}[/]");
        console.MarkupLineInterpolated($"{report.Workers} workers on {report.Model}; {report.ThreadBudget}");
        foreach (var run in report.Runs) WriteRun(console, run);

        var summary = new Table().Title("summary (TTFT p50 / p99 in ms, from submission to first token)")
            .AddColumns("policy", "kernel", "completed", "out tok/s");
        foreach (int bucket in RankBuckets.Default.Boundaries) summary.AddColumn($"r{bucket}");
        summary.AddColumn("placement (worker: rank queues)");
        foreach (var run in report.Runs)
        {
            var cells = new List<string> { run.Policy, run.Kernel, $"{run.Completed}/{run.Submitted}", F1(run.OutputTokensPerS) };
            cells.AddRange(run.Buckets.Select(b => $"{Ms(b.TtftP50Ms)} / {Ms(b.TtftP99Ms)}"));
            cells.Add(Markup.Escape(Placement(run)));
            summary.AddRow([.. cells]);
        }
        for (int c = 2; c < 4 + RankBuckets.Default.Boundaries.Count; c++) summary.Columns[c].RightAligned();
        console.Write(summary);

        if (report.Warnings > 0)
        {
            console.MarkupLineInterpolated($"[yellow]{report.Warnings} warnings were logged[/]; the first:");
            foreach (var line in report.WarningSamples) console.MarkupLineInterpolated($"  [grey]{line}[/]");
        }
        if (report.AllCompletedOnce)
            console.MarkupLineInterpolated($"[green]every job completed exactly once in every run[/] ({report.WallSeconds:F0} s wall)");
        else
            console.MarkupLine("[red]some jobs did not complete exactly once[/] (see the runs above)");
    }

    /// <summary>"w1: 8,16 · w2: 32,64": which rank queues each worker consumed.</summary>
    public static string Placement(RunResult run) => string.Join(" · ", run.Placement.Select(w =>
        $"{w.Worker.Replace("worker-", "w", StringComparison.Ordinal)}: {string.Join(",", w.Queues.Select(q => q.Replace(RankBuckets.RankQueuePrefix, "", StringComparison.Ordinal)))}"));

    private static void WriteRun(IAnsiConsole console, RunResult run)
    {
        console.WriteLine();
        console.MarkupLineInterpolated(
            $"[bold]{run.Policy} × {run.Kernel}[/]: {run.Completed}/{run.Submitted} completed ({run.Failed} failed, {run.Unfinished} unfinished, {run.DuplicateCompletions} duplicates), {run.OutputTokens} output tokens in {run.MakespanSeconds:F1} s = {run.OutputTokensPerS:F1} tokens/s");
        if (run.Problem is { } problem) console.MarkupLineInterpolated($"[red]{problem}[/]");
        var buckets = new Table().AddColumns("rank bucket", "jobs", "completed", "TTFT p50 ms", "TTFT p95 ms", "TTFT p99 ms");
        foreach (var b in run.Buckets)
            buckets.AddRow(b.Bucket.ToString(CultureInfo.InvariantCulture), Int(b.Jobs), Int(b.Completed), Ms(b.TtftP50Ms), Ms(b.TtftP95Ms), Ms(b.TtftP99Ms));
        buckets.AddRow("[bold]all[/]", Int(run.Submitted), Int(run.Completed), Ms(run.TtftP50Ms), Ms(run.TtftP95Ms), Ms(run.TtftP99Ms));
        for (int c = 1; c < 6; c++) buckets.Columns[c].RightAligned();
        console.Write(buckets);

        var workers = new Table().AddColumns("worker", "rank queues", "adapters", "expected load", "OP tok/s (r8 … r128)",
            "decode tok/s (r0 … r128)", "completed", "out tokens");
        foreach (var w in run.Placement)
            workers.AddRow(w.Worker, Markup.Escape(string.Join(", ", w.Queues)), Int(w.Adapters.Count), w.ExpectedLoad.ToString("F2", CultureInfo.InvariantCulture),
                string.Join(" ", RankBuckets.Default.Boundaries.Select(b => w.OperatingPoints.TryGetValue(b, out var op) ? op.ToString("F0", CultureInfo.InvariantCulture) : "-")),
                string.Join(" ", w.DecodeTps.Values.Select(v => v.ToString("F0", CultureInfo.InvariantCulture))),
                Int(w.Completed), w.OutputTokens.ToString(CultureInfo.InvariantCulture));
        console.Write(workers);

        var pulls = new Table().Title($"adapter pulls in the run: calibration, placement and replay ({InProcess.InProcessFleet.PeerTransport} between workers)")
            .AddColumns("source", "pulls", "MB", "total ms", "mean ms");
        foreach (var p in run.Pulls)
            pulls.AddRow(p.Source, Int(p.Count), (p.Bytes / 1e6).ToString("F1", CultureInfo.InvariantCulture), F1(p.TotalMs), F1(p.TotalMs / Math.Max(1, p.Count)));
        for (int c = 1; c < 5; c++) pulls.Columns[c].RightAligned();
        console.Write(pulls);
        console.MarkupLineInterpolated(
            $"jobs' adapters were: {string.Join(", ", LoRAQueue.Contracts.AdapterLoad.Sources.Select(s => $"{s} {run.JobAdapterSources.GetValueOrDefault(s)}"))}");
    }

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);
    private static string F1(double value) => value.ToString("F1", CultureInfo.InvariantCulture);
    private static string Ms(double? value) => value is { } v ? v.ToString("F0", CultureInfo.InvariantCulture) : "-";
}
