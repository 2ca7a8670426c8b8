using System.Globalization;
using Spectre.Console;

namespace LoRAQueue.Cli.Demo;

/// <summary>The demo's summary for people: one table per rank bucket, one per worker, and the verdict.</summary>
internal static class DemoView
{
    public static void Write(IAnsiConsole console, DemoSummary s)
    {
        console.WriteLine();
        console.MarkupLineInterpolated($"[bold]{s.Jobs} jobs[/] — {s.Workload}");
        console.MarkupLineInterpolated(
            $"{s.Workers} workers, kernel {s.Kernel}; submitted over {s.ReplaySeconds:F1} s (speedup {s.Speedup:F1}×), makespan {s.MakespanSeconds:F1} s, {s.OutputTokensPerS:F0} output tokens/s");

        var buckets = new Table().Title("per rank bucket (ms; TTFT from submission, rank-queue wait included)")
            .AddColumns("bucket", "jobs", "done", "failed", "TTFT p50", "TTFT p99", "TPOT p50", "out tok/s");
        foreach (var b in s.Buckets)
            buckets.AddRow(b.Bucket, Int(b.Jobs), Int(b.Completed), Int(b.Failed), Ms(b.TtftP50Ms), Ms(b.TtftP99Ms), Ms(b.TpotP50Ms),
                b.OutputTokensPerS.ToString("F1", CultureInfo.InvariantCulture));
        buckets.AddRow("[bold]all[/]", Int(s.Jobs), Int(s.Completed), Int(s.Failed), "", "", "",
            s.OutputTokensPerS.ToString("F1", CultureInfo.InvariantCulture));
        foreach (int column in new[] { 1, 2, 3, 4, 5, 6, 7 }) buckets.Columns[column].RightAligned();
        console.Write(buckets);

        var workers = new Table().Title("per worker").AddColumns("worker", "queues", "jobs", "done", "failed", "tokens",
            "out tok/s", "adapters");
        foreach (var w in s.WorkerStats)
            workers.AddRow(w.Worker, Markup.Escape(w.Queues), Int(w.Jobs), Int(w.Completed), Int(w.Failed), w.OutputTokens.ToString(CultureInfo.InvariantCulture),
                w.OutputTokensPerS.ToString("F1", CultureInfo.InvariantCulture), Int(w.ResidentAdapters));
        foreach (int column in new[] { 2, 3, 4, 5, 6, 7 }) workers.Columns[column].RightAligned();
        console.Write(workers);

        if (s.Warnings > 0)
        {
            console.MarkupLineInterpolated($"[yellow]{s.Warnings} warnings were logged[/]; the first:");
            foreach (var line in s.WarningSamples) console.MarkupLineInterpolated($"  [grey]{line}[/]");
        }
        if (s.AllCompleted)
            console.MarkupLineInterpolated($"[green]all {s.Jobs} jobs completed[/] in {s.WallSeconds:F1} s (setup included)");
        else
            console.MarkupLineInterpolated($"[red]{s.Jobs - s.Completed} of {s.Jobs} jobs did not complete[/] ({s.Failed} failed, {s.Unfinished} unfinished)");
    }

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Ms(double? value) => value is { } v ? v.ToString("F1", CultureInfo.InvariantCulture) : "-";
}
