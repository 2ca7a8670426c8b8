namespace LoRAQueue.InProcess;

/// <summary>One job to replay: when to submit it (from the replay's start), which adapter (null = base model), lengths.</summary>
public sealed record DemoJob(int Index, TimeSpan At, string? AdapterId, int PromptTokens, int MaxTokens);
