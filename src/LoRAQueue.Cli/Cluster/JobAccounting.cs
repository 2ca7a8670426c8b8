using LoRAQueue.Cli.Reliability;

namespace LoRAQueue.Cli.Cluster;

/// <summary>A job the gateways accepted (202), in the phase (the fault window) it was submitted in.</summary>
internal sealed record AcceptedJob(Guid JobId, int Index, string Phase, DateTimeOffset DueAt, int Rank, bool WithWebhook = true);

/// <summary>A job's history as Postgres holds it: the status of its row (null: no row) and how many rows carry its id.</summary>
internal sealed record HistoryRow(string? Status, int Rows);

/// <summary>What became of the accepted jobs of one phase, counted from the events and from the history.</summary>
internal sealed record JobCounts(string Phase, int Accepted, int TerminalByEvents, int TerminalInHistory, int Completed, int Failed,
                                 int Lost, int Duplicated, int Stuck, int ReExecuted, int WebhooksDue, int WebhooksOnce, int WebhooksTwice,
                                 int WebhooksMissing)
{
    public bool Held => Lost == 0 && Duplicated == 0 && Stuck == 0 && WebhooksMissing == 0;
}

/// <summary>
/// The counting of a scale or fault run, pure so it can be checked on made-up events and rows:
/// <list type="bullet">
/// <item><b>lost</b>: accepted, but no terminal event (JobCompleted/JobFailed), or no history row at all;</item>
/// <item><b>duplicated</b>: more than one history row for the job, or its webhook received more than once;</item>
/// <item><b>stuck</b>: its row still queued or running while its terminal event was published;</item>
/// <item><b>re-executed</b> (reported, not a failure: at-least-once delivery): started more than once, on one worker or several, or
/// completed more than once.</item>
/// </list>
/// </summary>
internal static class JobAccounting
{
    public static IReadOnlyList<JobCounts> Count(IReadOnlyList<AcceptedJob> accepted, IReadOnlyDictionary<Guid, IReadOnlyList<TappedEvent>> events,
                                                IReadOnlyDictionary<Guid, HistoryRow> rows, IReadOnlyDictionary<Guid, int> webhookReceipts)
    {
        var phases = accepted.Select(j => j.Phase).Distinct().ToList();
        var result = phases.Select(p => CountPhase(p, accepted.Where(j => j.Phase == p), events, rows, webhookReceipts)).ToList();
        if (phases.Count != 1) result.Add(CountPhase("all", accepted, events, rows, webhookReceipts));
        return result;
    }

    /// <summary>The terminal state a job's events say (the first terminal event wins, as the history's rule), or null.</summary>
    public static string? TerminalOf(IReadOnlyList<TappedEvent> events) =>
        events.FirstOrDefault(e => e.Type is "JobCompleted" or "JobFailed")?.Type switch
        {
            "JobCompleted" => "completed",
            "JobFailed" => "failed",
            _ => null,
        };

    private static JobCounts CountPhase(string phase, IEnumerable<AcceptedJob> jobs, IReadOnlyDictionary<Guid, IReadOnlyList<TappedEvent>> events,
                                        IReadOnlyDictionary<Guid, HistoryRow> rows, IReadOnlyDictionary<Guid, int> webhookReceipts)
    {
        int accepted = 0, terminalEvents = 0, terminalRows = 0, completed = 0, failed = 0, lost = 0, duplicated = 0, stuck = 0, reExecuted = 0;
        int due = 0, once = 0, twice = 0, missing = 0;
        foreach (var job in jobs)
        {
            accepted++;
            var list = events.GetValueOrDefault(job.JobId) ?? [];
            string? terminal = TerminalOf(list);
            var row = rows.GetValueOrDefault(job.JobId);
            bool rowTerminal = row?.Status is "completed" or "failed";
            if (terminal is not null) terminalEvents++;
            if (rowTerminal) terminalRows++;
            if (terminal == "completed") completed++;
            else if (terminal == "failed") failed++;
            if (terminal is null || row is null) lost++;
            int receipts = webhookReceipts.GetValueOrDefault(job.JobId);
            if (row is { Rows: > 1 } || receipts > 1) duplicated++;
            if (terminal is not null && row?.Status is "queued" or "running") stuck++;
            int starts = list.Count(e => e.Type == "JobStarted");
            int ends = list.Count(e => e.Type is "JobCompleted" or "JobFailed");
            if (starts > 1 || ends > 1 || list.Where(e => e.Worker is not null).Select(e => e.Worker).Distinct().Count() > 1) reExecuted++;
            if (terminal is null || !job.WithWebhook) continue;
            due++;
            if (receipts == 1) once++;
            else if (receipts > 1) twice++;
            else missing++;
        }
        return new JobCounts(phase, accepted, terminalEvents, terminalRows, completed, failed, lost, duplicated, stuck, reExecuted, due, once, twice, missing);
    }

    /// <summary>
    /// Seconds from a fault's start until service is back: the end of the first <paramref name="window"/>-second window, starting at
    /// or after the fault's end, in which jobs completed at least <paramref name="share"/> of the rate of the
    /// <paramref name="baseline"/> seconds before the fault. Null when no such window came, or there was no completion before it.
    /// </summary>
    public static double? RecoverySeconds(IReadOnlyList<double> completionTimes, double faultStart, double faultEnd, double baseline = 20,
                                          double window = 5, double share = 0.8)
    {
        var sorted = completionTimes.Order().ToList();
        double from = Math.Max(0, faultStart - baseline);
        int before = sorted.Count(t => t >= from && t < faultStart);
        if (before == 0 || faultStart - from <= 0) return null;
        double rate = before / (faultStart - from);
        double last = sorted.Count == 0 ? faultEnd : sorted[^1];
        for (double t = faultEnd; t + window <= last + 1e-9; t += 0.5)
        {
            int inWindow = sorted.Count(c => c >= t && c < t + window);
            if (inWindow >= share * rate * window) return Math.Round(t + window - faultStart, 1);
        }
        return null;
    }
}
