using LoRAQueue.Core.Costs;

namespace LoRAQueue.Engine;

/// <summary>
/// The emulated backend of <see cref="InferenceEngine.CreateEmulated"/>: the engine's own bookkeeping with the forward pass
/// replaced by a wait of <see cref="Cost"/>'s price of each step (the <see cref="StepShape"/> the twin prices, built from the
/// batch the real scheduler formed, charged with <see cref="Kernel"/>), and deterministic tokens (<see cref="EmulatedTokens"/>).
/// </summary>
/// <param name="Cost">Prices a step (a profile's <see cref="LinearStepCostModel"/>).</param>
/// <param name="Kernel">How a batch's LoRA work is charged: the worker's kernel setting (segmented or padded).</param>
public sealed record EmulatedBackend(IStepCostModel Cost, LoraKernelKind Kernel)
{
    /// <summary>
    /// Lateness one step may make up. A step that follows a busy step is timed from the previous step's deadline rather
    /// than from when the engine got round to it, so the sleep's overshoot, the tail of the previous step and the loop
    /// between them do not add up over a run; more lateness than this (a stalled, overloaded machine) is kept, so the
    /// emulated engine never runs ahead of the model by more than this over any stretch of steps.
    /// </summary>
    public TimeSpan MaxCatchUp { get; init; } = TimeSpan.FromMilliseconds(5);
}
