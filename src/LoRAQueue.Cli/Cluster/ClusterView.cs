using System.Globalization;
using Spectre.Console;

namespace LoRAQueue.Cli.Cluster;

/// <summary>`bench cluster` for people: the setup, live against twin, by rank, the job count per phase, faults, adapters, processes.</summary>
internal static class ClusterView
{
    private static string S(double? seconds) => seconds is { } s ? s.ToString("0.###", CultureInfo.InvariantCulture) : "–";
    private static string F(double value, string format = "0.##") => value.ToString(format, CultureInfo.InvariantCulture);
    private static string Pct(double? value) => value is { } v ? v.ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + " %" : "–";

    public static void Write(IAnsiConsole console, ClusterReport r)
    {
        var s = r.Setup;
        console.MarkupLineInterpolated($"[bold]{r.Trace}[/]");
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{r.Requests} requests, {r.OfferedRps:0.##} req/s offered (×{s.RateScale:0.###}), {r.Clamped} clamped; {s.Workers} emulated workers ({s.Profile}, {s.Kernel}, {s.Policy}, " +
            $"{s.MaxSequences} sequences, {s.MaxBatchTokens} batch tokens, {s.KvTokens} KV tokens, {s.MaxAdapters} adapters, peers {s.Peers}), " +
            $"{s.Gateways} gateways, {s.Schedulers} schedulers, RabbitMQ {s.RabbitMqNodes}; {s.Cores} cores"));
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"answers: {r.Accepted} accepted ({r.Retried} after a retry, {r.RetryAttempts} retries, {r.Replayed} idempotent replays), {r.Refused} refused (503) at the last try, {r.OtherAnswers} other; replay lateness p99 {r.SubmitLatenessP99Ms:0.#} ms"));

        var compare = new Table().Title("live against the twin (TTFT in seconds, from the request's due time)")
            .AddColumns("", "completed", "req/s", "out tok/s", "TTFT p50", "p95", "p99", $"SLO {F(s.SloTtftS)} s");
        void Row(string name, RunFigures f) => compare.AddRow(name, $"{f.Completed}/{f.Requests}", F(f.ThroughputRps, "0.###"), F(f.OutputTokensPerS, "0.#"),
            S(f.TtftP50S), S(f.TtftP95S), S(f.TtftP99S), F(f.SloAttainment, "P1"));
        Row("live", r.Live);
        if (r.Twin is { } twin) Row(r.TwinPickupMs > 0 ? $"twin (pick-up {F(r.TwinPickupMs, "0.#")} ms)" : "twin", twin);
        if (r.TwinWithoutPickup is { } bare) Row("twin (no pick-up)", bare);
        if (r.Comparison is { } c) compare.AddRow("twin − live", "", Pct(c.ThroughputPct), Pct(c.OutputTokensPct), Pct(c.TtftP50Pct), Pct(c.TtftP95Pct), Pct(c.TtftP99Pct), "");
        console.Write(compare);
        if (r.Comparison is { } cmp) console.WriteLine($"twin utilisation: mean {cmp.MeanUtilisation:P0}, max {cmp.MaxUtilisation:P0}");
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"live TTFT inside the engine p50 {S(r.Live.EngineTtftP50S)} s, p95 {S(r.Live.EngineTtftP95S)} s; due time → engine p50 {r.Live.PickupP50Ms:0.#} ms, p95 {r.Live.PickupP95Ms:0.#} ms"));

        var ranks = new Table().Title("TTFT by rank (p50 / p95 / p99 s, SLO attainment)").AddColumns("rank", "requests", "live", "twin");
        foreach (var l in r.Live.ByRank)
        {
            var t = r.Twin?.ByRank.FirstOrDefault(x => x.Rank == l.Rank);
            ranks.AddRow(l.Rank == 0 ? "base" : l.Rank.ToString(CultureInfo.InvariantCulture), l.Requests.ToString(CultureInfo.InvariantCulture),
                $"{S(l.TtftP50S)} / {S(l.TtftP95S)} / {S(l.TtftP99S)}, {F(l.SloAttainment, "P1")}",
                t is null ? "–" : $"{S(t.TtftP50S)} / {S(t.TtftP95S)} / {S(t.TtftP99S)}, {F(t.SloAttainment, "P1")}");
        }
        console.Write(ranks);

        var jobs = new Table().Title("every accepted job, from the events and from the history")
            .AddColumns("phase", "accepted", "terminal (events)", "terminal (history)", "completed", "failed", "lost", "duplicated", "stuck", "re-executed",
                        "webhooks once", "twice+", "missing");
        foreach (var j in r.Jobs)
            jobs.AddRow(Markup.Escape(j.Phase), $"{j.Accepted}", $"{j.TerminalByEvents}", $"{j.TerminalInHistory}", $"{j.Completed}", $"{j.Failed}", $"{j.Lost}",
                        $"{j.Duplicated}", $"{j.Stuck}", $"{j.ReExecuted}", $"{j.WebhooksOnce}/{j.WebhooksDue}", $"{j.WebhooksTwice}", $"{j.WebhooksMissing}");
        console.Write(jobs);

        if (r.Faults.Count > 0)
        {
            var faults = new Table().Title("faults").AddColumns("#", "at s", "until s", "fault", "what happened", "recovery s");
            foreach (var f in r.Faults)
                faults.AddRow($"{f.Index}", F(f.StartedAtS, "0.#"), F(f.EndedAtS, "0.#"), Markup.Escape(f.Description), Markup.Escape(f.Detail), S(f.RecoveryS));
            console.Write(faults);
        }
        console.WriteLine($"replayed requests with more than one job in the history: {r.RequestsWithTwoJobs}; webhooks received again under the same webhook-id: {r.WebhooksRedelivered}");
        foreach (var b in r.Batches)
            console.WriteLine($"batch {b.BatchId} (gateway killed during its upload): {b.LinesRefused} lines refused in its answer, {b.LinesWithAJob}/{b.Lines} with a job, {b.LinesLost} without, " +
                              $"{b.LinesDuplicated} with more than one; {b.Batches} batch(es) for its Idempotency-Key");

        console.WriteLine("placements: " + (r.Placements.Count == 0 ? "none recorded" : string.Join("; ", r.Placements.Select(p =>
            string.Create(CultureInfo.InvariantCulture, $"{p.AtSeconds:0.#} s epoch {p.Epoch} ({p.Reason}): ") +
            string.Join(" ", p.WorkersPerQueue.Select(q => $"{q.Key}×{q.Value}"))))));
        console.WriteLine("adapters: jobs found theirs " + string.Join(", ", r.Adapters.JobsBySource.Select(kv => $"{kv.Key} {kv.Value}")) +
                          "; pulls " + (r.Adapters.PullsBySource.Count == 0 ? "none" : string.Join(", ", r.Adapters.PullsBySource.Select(kv =>
                              string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value.Pulls} ({kv.Value.Bytes / 1e6:0.#} MB, mean {kv.Value.MeanMs:0.#} ms)")))));
        if (r.Emulation is { } e)
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"emulation: {e.WorkersReporting} workers reported {e.ModelledSeconds:0.#} s of modelled steps, {e.LostSeconds:0.##} s lost behind the model ({e.LostShare:P2}; worst worker {e.MaxLostSeconds:0.##} s)"));

        var usage = new Table().Title("processes: CPU from the replay's start to the drain's end, peak RSS").AddColumns("role", "processes", "CPU s", "cores", "peak RSS MB (max one)", "peak RSS MB (sum)");
        foreach (var u in r.Usage)
            usage.AddRow(u.Role, $"{u.Processes}", F(u.CpuSeconds, "0.#"), F(u.Cores, "0.###"), F(u.MaxPeakRssMb, "0"), F(u.SumPeakRssMb, "0"));
        console.Write(usage);
        foreach (var note in r.Notes) console.MarkupLineInterpolated($"[grey]note: {note}[/]");
        console.MarkupLine(r.Held ? "[green]every accepted job ended exactly once: none lost, duplicated or stuck; every webhook once[/]"
                                  : r.Faults.Any(f => f.Detail.StartsWith("FAILED", StringComparison.Ordinal))
                                      ? "[red]a fault was not carried out (see the fault table)[/]"
                                      : "[red]not every job ended exactly once (see the job table)[/]");
    }
}
