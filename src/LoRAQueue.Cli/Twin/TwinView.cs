using System.Globalization;
using LoRAQueue.Twin;

namespace LoRAQueue.Cli.Twin;

/// <summary>Twin results for people: markdown tables (they paste into docs as they are).</summary>
internal static class TwinView
{
    public static void WriteRun(TextWriter output, string workload, TwinResult r)
    {
        output.WriteLine(workload);
        output.WriteLine(F($"{r.Policy} × {r.Kernel} on {r.Workers} workers ({r.CostModel}): {r.Completed}/{r.Requests} completed ({r.Refused} refused, {r.Unfinished} unfinished)"));
        output.WriteLine();
        output.WriteLine("| req/s | out tok/s | TTFT p50 s | p95 s | p99 s | SLO attainment | simulated s | wall s | speed-up | placements | adapter loads | preemptions |");
        output.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        output.WriteLine(F($"| {r.ThroughputRps:0.###} | {r.OutputTokensPerS:0.#} | {r.TtftP50S:0.####} | {r.TtftP95S:0.####} | {r.TtftP99S:0.####} | {r.SloAttainment:P1} (≤ {r.SloTtftS:0.###} s) | {r.SimulatedSeconds:0.#} | {r.WallSeconds:0.###} | {r.SimulatedPerWallSecond:0}× | {r.Placements.Count} | {r.AdapterLoads} | {r.Preemptions} |"));
        output.WriteLine();
        output.WriteLine("| worker | utilisation | completed | out tokens | rank queues at the end |");
        output.WriteLine("| --- | ---: | ---: | ---: | --- |");
        foreach (var w in r.WorkerStats)
            output.WriteLine(F($"| {w.Worker} | {w.Utilisation:P0} | {w.Completed} | {w.OutputTokens} | {(w.ServesBase ? "base," : "")}{string.Join(",", w.FinalRankQueues)} |"));
    }

    public static void WriteCapacity(TextWriter output, CapacityReport report)
    {
        Caption(output, report.Workload, F($"TTFT ≤ {report.SloTtftS:0.###} s for {report.Attainment:P0} of requests:"),
                "| policy | workers needed | TTFT p95 s | SLO attainment | sizes tried |", "| --- | ---: | ---: | ---: | --- |");
        foreach (var a in report.Policies)
            output.WriteLine(F($"| {a.Policy} | {(a.WorkersNeeded is { } n ? n.ToString(CultureInfo.InvariantCulture) : $"> {TwinCapacity.MaxWorkers}")} | {a.TtftP95S:0.####} | {a.SloAttainment:P1} | {string.Join(" ", a.Probes.Select(p => F($"{p.Workers}:{p.SloAttainment:P0}")))} |"));
    }

    public static void WriteSweep(TextWriter output, SweepReport report)
    {
        Caption(output, report.Workload, F($"{report.Workers} workers; TTFT ≤ {report.SloTtftS:0.###} s for {report.Attainment:P0} of requests:"),
                "| policy | rate at SLO req/s | offered req/s | completed req/s | out tok/s | TTFT p50 s | p95 s | SLO attainment |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var s in report.Policies)
            foreach (var p in s.Points)
                output.WriteLine(F($"| {s.Policy} | {(p.RateScale == s.RateScaleAtSlo ? $"**{(s.LowerBound ? "≥ " : "")}{s.RateAtSloRps:0.##}**" : "")} | {p.OfferedRps:0.##} | {p.ThroughputRps:0.##} | {p.OutputTokensPerS:0} | {p.TtftP50S:0.###} | {p.TtftP95S:0.###} | {p.SloAttainment:P1} |"));
    }

    /// <summary>The workload, what the table answers, and the table's header.</summary>
    private static void Caption(TextWriter output, string workload, string question, string header, string alignment)
    {
        output.WriteLine(workload);
        output.WriteLine(question);
        output.WriteLine();
        output.WriteLine(header);
        output.WriteLine(alignment);
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
