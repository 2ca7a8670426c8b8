namespace LoRAQueue.Kernels;

/// <summary>The multi-LoRA kernels by name: "segmented" (default), "padded" (baseline) and "loop" (per-request).</summary>
public static class MultiLoraKernels
{
    public static IMultiLoraKernel Segmented { get; } = new SegmentedLoraKernel();
    public static IMultiLoraKernel Padded { get; } = new PaddedLoraKernel();
    public static IMultiLoraKernel Loop { get; } = new LoopLoraKernel();

    public static IReadOnlyList<string> Names { get; } = ["segmented", "padded", "loop"];

    public static IMultiLoraKernel Create(string name) => name?.Trim().ToLowerInvariant() switch
    {
        "segmented" => Segmented,
        "padded" => Padded,
        "loop" => Loop,
        _ => throw new ArgumentException($"unknown LoRA kernel '{name}'; expected one of: {string.Join(", ", Names)}", nameof(name)),
    };
}
