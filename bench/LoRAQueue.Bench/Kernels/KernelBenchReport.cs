using System.Text.Json;
using System.Text.Json.Serialization;
using LoRAQueue.Kernels;

namespace LoRAQueue.Bench;

/// <summary>Result of <see cref="KernelBenchmark.Run"/>; <see cref="ToJson"/> gives the CLI's JSON object.</summary>
public sealed record KernelBenchReport(
    [property: JsonPropertyName("bandwidth_gbs")] double BandwidthGbs,
    [property: JsonPropertyName("cases")] IReadOnlyList<KernelBenchCase> Cases)
{
    /// <summary>Module in = out dimension of every case (what turns token-rank into FLOPs: 2·2·hidden each).</summary>
    [JsonPropertyName("hidden")] public int Hidden { get; init; }

    static readonly JsonSerializerOptions s_compact = new() { WriteIndented = false };
    static readonly JsonSerializerOptions s_indented = new() { WriteIndented = true };

    public string ToJson(bool indented = false) => JsonSerializer.Serialize(this, indented ? s_indented : s_compact);
}

/// <summary>
/// One workload: per kernel, the time of shrink + expand of one module for one batch of <see cref="Tokens"/>
/// tokens (median of the timed runs; mean over the batches of a multi-draw case), the segmented kernel's
/// useful GFLOP/s, padded FLOPs over segmented FLOPs, and the distinct adapter ranks in the case.
/// <see cref="TokenRank"/> (Σ tokens × rank) and <see cref="PaddedTokenRank"/> (tokens × the largest rank), means over
/// a mixed case's batches, are what `loraqueue twin profile fit` prices the LoRA work by.
/// </summary>
public sealed record KernelBenchCase(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("tokens")] int Tokens,
    [property: JsonPropertyName("ranks")] IReadOnlyList<int> Ranks,
    [property: JsonPropertyName("segmented_ms")] double SegmentedMs,
    [property: JsonPropertyName("padded_ms")] double PaddedMs,
    [property: JsonPropertyName("loop_ms")] double LoopMs,
    [property: JsonPropertyName("segmented_gflops")] double SegmentedGflops,
    [property: JsonPropertyName("flop_ratio")] double FlopRatio)
{
    [JsonPropertyName("token_rank")] public double TokenRank { get; init; }
    [JsonPropertyName("padded_token_rank")] public double PaddedTokenRank { get; init; }
}
