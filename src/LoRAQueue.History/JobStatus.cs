namespace LoRAQueue.History;

/// <summary>A job's progress. Queued &lt; Running &lt; Completed | Failed; a recorded status never goes back.</summary>
public enum JobStatus { Queued, Running, Completed, Failed }

public static class JobStatuses
{
    /// <summary>The lower-case name stored in the database and shown to users.</summary>
    public static string Name(JobStatus status) => status switch
    {
        JobStatus.Queued => "queued",
        JobStatus.Running => "running",
        JobStatus.Completed => "completed",
        JobStatus.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "unknown job status"),
    };

    public static JobStatus Parse(string name) => name.ToLowerInvariant() switch
    {
        "queued" => JobStatus.Queued,
        "running" => JobStatus.Running,
        "completed" => JobStatus.Completed,
        "failed" => JobStatus.Failed,
        _ => throw new FormatException($"'{name}' is not a job status (queued, running, completed, failed)"),
    };

    /// <summary>Progress rank: an event is applied only when it raises it. Both terminal states share the top
    /// rank, so whichever terminal event arrives first wins and later ones change nothing.</summary>
    public static int Rank(JobStatus status) => status switch
    {
        JobStatus.Queued => 0,
        JobStatus.Running => 1,
        JobStatus.Completed or JobStatus.Failed => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "unknown job status"),
    };

    public static bool IsTerminal(JobStatus status) => Rank(status) == 2;
}
