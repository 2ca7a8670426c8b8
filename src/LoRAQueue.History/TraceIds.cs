using System.Diagnostics;

namespace LoRAQueue.History;

/// <summary>The trace a history write happens in. Read from the ambient span rather than passed in, so every caller that
/// records a job (the gateway's submission, the JobPublisher, the recorder's consume of the workers' events) stores its
/// trace without a change of its own. Only sampled (recorded) spans count: with tracing off there is none to look up.</summary>
internal static class TraceIds
{
    public static string? Current() => Activity.Current is { Recorded: true, IdFormat: ActivityIdFormat.W3C } span
        ? span.TraceId.ToHexString()
        : null;
}
