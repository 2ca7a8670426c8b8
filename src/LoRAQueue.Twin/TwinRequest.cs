namespace LoRAQueue.Twin;

/// <summary>One request the twin replays: when it arrives (seconds from the start), its token lengths, and its adapter
/// (null: the base model) with that adapter's rank and size.</summary>
public sealed record TwinRequest(int Id, double ArrivalSeconds, int InputTokens, int OutputTokens, string? AdapterId, int Rank,
                                 long AdapterBytes = 0);

/// <summary>One request's fate: when it arrived, got its first token and finished (seconds), on which worker.</summary>
public sealed record TwinJob(TwinRequest Request)
{
    public string? Worker { get; set; }
    public double? FirstTokenSeconds { get; set; }
    public double? FinishedSeconds { get; set; }
    public int OutputTokens { get; set; }
    public int Preemptions { get; set; }
    internal bool PickedUp { get; set; }

    public double? TtftSeconds => FirstTokenSeconds - Request.ArrivalSeconds;
}
