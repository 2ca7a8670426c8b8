using System.Text.Json.Serialization;

namespace LoRAQueue.Core.Costs;

/// <summary>How the weight stream and the per-token work combine in <see cref="LinearStepCostModel"/>.</summary>
public enum StepCostForm
{
    /// <summary>T = overhead + weight_read + a·P + b·D + c·K + d·L: nothing overlaps (a CPU step; what a fit gives).</summary>
    Linear,

    /// <summary>T = overhead + max(weight_read, a·P + b·D) + c·K + d·L: streaming the weights and the GEMM arithmetic
    /// overlap perfectly (a GPU step: memory-bound until the batch reaches the ridge point, compute-bound after).</summary>
    Roofline,
}

/// <summary>
/// One accelerator running one base model, as the digital twin needs it: the step-time coefficients, KV capacity,
/// batch limit, adapter load time, optionally the measured operating points per rank, and where every figure comes
/// from. One JSON file per accelerator (<see cref="AcceleratorProfiles"/> reads, validates and writes it); the
/// field names below are the JSON's. Numbers that are missing read as 0 and fail validation with the field named.
/// </summary>
public sealed record AcceleratorProfile
{
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("description")] public string? Description { get; init; }
    [JsonPropertyName("form")] public StepCostForm Form { get; init; } = StepCostForm.Linear;
    [JsonPropertyName("model")] public ProfileModelShape? Model { get; init; }
    [JsonPropertyName("hardware")] public ProfileHardware? Hardware { get; init; }
    [JsonPropertyName("coefficients")] public StepCoefficients? Coefficients { get; init; }
    [JsonPropertyName("capacity")] public ProfileCapacity? Capacity { get; init; }
    [JsonPropertyName("adapter_load")] public AdapterLoadCost? AdapterLoad { get; init; }
    [JsonPropertyName("operating_points")] public ProfileOperatingPoints? OperatingPoints { get; init; }
    [JsonPropertyName("fit")] public ProfileFitSummary? Fit { get; init; }
    [JsonPropertyName("sources")] public IReadOnlyList<ProfileSource> Sources { get; init; } = [];

    /// <summary>Throws <see cref="ProfileValidationException"/> naming the first bad field.</summary>
    public AcceleratorProfile Validated()
    {
        AcceleratorProfiles.Validate(this);
        return this;
    }
}

/// <summary>The base model the profile was made for.</summary>
public sealed record ProfileModelShape
{
    /// <summary>What it is ("Llama-2-7B", a synthetic preset's name); free text.</summary>
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    [JsonPropertyName("layers")] public int Layers { get; init; }
    [JsonPropertyName("parameters")] public long Parameters { get; init; }
    /// <summary>Bytes of weights one step streams (all layers, embedding, lm_head), in the dtype served.</summary>
    [JsonPropertyName("weight_bytes")] public long WeightBytes { get; init; }
    /// <summary>K and V of one token over all layers, in the cache's dtype.</summary>
    [JsonPropertyName("kv_bytes_per_token")] public long KvBytesPerToken { get; init; }
    /// <summary>Adapter bytes per unit of rank over its target modules (a rank-r adapter is r × this).</summary>
    [JsonPropertyName("lora_bytes_per_rank")] public long LoraBytesPerRank { get; init; }
}

/// <summary>Peak figures of the accelerator (informational: the coefficients are what the model uses).</summary>
public sealed record ProfileHardware
{
    [JsonPropertyName("accelerator")] public string? Accelerator { get; init; }
    [JsonPropertyName("memory_bandwidth_gbs")] public double MemoryBandwidthGbs { get; init; }
    [JsonPropertyName("peak_gflops")] public double PeakGflops { get; init; }
}

/// <summary>
/// The step-time coefficients, in the units their names carry. P = prefill tokens, D = decode tokens (one per decoding
/// sequence), K = KV tokens read, L = LoRA token-rank (<see cref="StepShape.LoraTokenRank"/>).
/// </summary>
public sealed record StepCoefficients
{
    /// <summary>Fixed cost of any non-empty step (launches, scheduling, sampling, norms, what the other terms miss).</summary>
    [JsonPropertyName("overhead_ms")] public double OverheadMs { get; init; }
    /// <summary>Time to stream the weights once: weight bytes ÷ memory bandwidth. Added in the linear form (a fitted
    /// profile leaves it 0: its intercept is all in <see cref="OverheadMs"/>), the floor of the per-token work in the
    /// roofline form.</summary>
    [JsonPropertyName("weight_read_ms")] public double WeightReadMs { get; init; }
    [JsonPropertyName("prefill_us_per_token")] public double PrefillUsPerToken { get; init; }
    [JsonPropertyName("decode_us_per_token")] public double DecodeUsPerToken { get; init; }
    [JsonPropertyName("kv_us_per_token")] public double KvUsPerToken { get; init; }
    [JsonPropertyName("lora_us_per_token_rank")] public double LoraUsPerTokenRank { get; init; }
}

public sealed record ProfileCapacity
{
    /// <summary>Tokens the KV cache holds (all sequences together).</summary>
    [JsonPropertyName("kv_tokens")] public long KvTokens { get; init; }
    /// <summary>Most sequences in one step.</summary>
    [JsonPropertyName("max_batch")] public int MaxBatch { get; init; }
}

/// <summary>Time to make an adapter resident: constant + bytes ÷ bandwidth (fed from `loraqueue bench transfer`).</summary>
public sealed record AdapterLoadCost
{
    [JsonPropertyName("constant_ms")] public double ConstantMs { get; init; }
    [JsonPropertyName("bandwidth_gbs")] public double BandwidthGbs { get; init; }
}

/// <summary>Measured operating points (tokens/s one server sustains with adapters of one rank), with the request
/// shape <see cref="OperatingPointEstimate"/> uses to compare the model against them.</summary>
public sealed record ProfileOperatingPoints
{
    [JsonPropertyName("prompt_tokens")] public int PromptTokens { get; init; }
    [JsonPropertyName("output_tokens")] public int OutputTokens { get; init; }
    [JsonPropertyName("batch")] public int Batch { get; init; }
    /// <summary>Rank → (prompt + output) tokens per second.</summary>
    [JsonPropertyName("tokens_per_s")] public IReadOnlyDictionary<int, double> TokensPerS { get; init; } = new Dictionary<int, double>();
}

/// <summary>How well the coefficients reproduce the points they were fitted to.</summary>
public sealed record ProfileFitSummary
{
    [JsonPropertyName("method")] public string? Method { get; init; }
    [JsonPropertyName("points")] public int Points { get; init; }
    [JsonPropertyName("r_squared")] public double RSquared { get; init; }
    [JsonPropertyName("max_relative_error")] public double MaxRelativeError { get; init; }
    [JsonPropertyName("mean_relative_error")] public double MeanRelativeError { get; init; }
}

/// <summary>Where a figure comes from. <see cref="Figure"/> is a field path ("coefficients.kv_us_per_token") or a
/// section ("model"), which covers every field under it.</summary>
public sealed record ProfileSource
{
    [JsonPropertyName("figure")] public string Figure { get; init; } = "";
    [JsonPropertyName("source")] public string Source { get; init; } = "";
}
