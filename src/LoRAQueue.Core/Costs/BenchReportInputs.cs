using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoRAQueue.Core.Costs;

/// <summary>Tokens of one adapter in a measured step, as the bench reports write them.</summary>
public sealed record MeasuredSegment(
    [property: JsonPropertyName("tokens")] int Tokens,
    [property: JsonPropertyName("rank")] int Rank);

/// <summary>
/// One measured engine step shape (`loraqueue bench engine --json`, its <c>steps</c> list): what the step computed and
/// the median of <see cref="TimedSteps"/> timed steps of that shape. The bench writes these and <see cref="ProfileFit"/>
/// reads them: this record is the contract between the two.
/// </summary>
public sealed record StepMeasurement
{
    [JsonPropertyName("label")] public string Label { get; init; } = "";
    [JsonPropertyName("prefill_tokens")] public int PrefillTokens { get; init; }
    [JsonPropertyName("decode_tokens")] public int DecodeTokens { get; init; }
    /// <summary>Σ over the step's sequences of the positions attention reads (context after the step), averaged over
    /// the timed steps.</summary>
    [JsonPropertyName("kv_tokens_read")] public long KvTokensRead { get; init; }
    /// <summary>"segmented" or "padded".</summary>
    [JsonPropertyName("kernel")] public string Kernel { get; init; } = "segmented";
    [JsonPropertyName("segments")] public IReadOnlyList<MeasuredSegment> Segments { get; init; } = [];
    [JsonPropertyName("step_ms")] public double StepMs { get; init; }
    /// <summary>The fastest timed step.</summary>
    [JsonPropertyName("step_ms_min")] public double? StepMsMin { get; init; }
    [JsonPropertyName("timed_steps")] public int TimedSteps { get; init; }

    public StepShape ToShape() => new(PrefillTokens, DecodeTokens, KvTokensRead, [.. Segments.Select(s => new LoraSegment(s.Tokens, s.Rank))]);

    [JsonIgnore]
    public LoraKernelKind KernelKind => Kernel switch
    {
        "segmented" => LoraKernelKind.Segmented,
        "padded" => LoraKernelKind.Padded,
        _ => throw new FormatException($"step '{Label}': kernel '{Kernel}' is neither 'segmented' nor 'padded'"),
    };
}

/// <summary>The engine bench's model section: the shape the measured steps ran.</summary>
public sealed record BenchModelShape
{
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    [JsonPropertyName("layers")] public int Layers { get; init; }
    [JsonPropertyName("parameters")] public long Parameters { get; init; }
    [JsonPropertyName("weight_bytes")] public long WeightBytes { get; init; }
    [JsonPropertyName("kv_bytes_per_token")] public long KvBytesPerToken { get; init; }
    /// <summary>Adapter bytes per unit of rank on the sweep's target modules (F32 A and B).</summary>
    [JsonPropertyName("lora_bytes_per_rank")] public long LoraBytesPerRank { get; init; }
    /// <summary>Shrink + expand FLOPs per token per unit of rank over every targeted module of every layer: Σ 2·(in + out).</summary>
    [JsonPropertyName("lora_flops_per_token_rank")] public long LoraFlopsPerTokenRank { get; init; }
    [JsonPropertyName("lora_targets")] public IReadOnlyList<string>? LoraTargets { get; init; }
}

/// <summary>The fields of `loraqueue bench engine --json` that a fit reads (others are ignored).</summary>
public sealed record EngineReportInput
{
    [JsonPropertyName("preset")] public string? Preset { get; init; }
    [JsonPropertyName("weights_bytes")] public long WeightsBytes { get; init; }
    [JsonPropertyName("bandwidth_gbs")] public double BandwidthGbs { get; init; }
    [JsonPropertyName("gemm_gflops")] public double GemmGflops { get; init; }
    [JsonPropertyName("model")] public BenchModelShape? Model { get; init; }
    [JsonPropertyName("steps")] public IReadOnlyList<StepMeasurement>? Steps { get; init; }
}

/// <summary>One case of `loraqueue bench kernels --json` (one module, in = out = hidden).</summary>
public sealed record KernelCaseInput
{
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("tokens")] public int Tokens { get; init; }
    [JsonPropertyName("segmented_ms")] public double SegmentedMs { get; init; }
    [JsonPropertyName("padded_ms")] public double PaddedMs { get; init; }
    [JsonPropertyName("segmented_gflops")] public double SegmentedGflops { get; init; }
    [JsonPropertyName("flop_ratio")] public double FlopRatio { get; init; }
    /// <summary>Σ tokens × rank of the batch (mean over a mixed case's draws).</summary>
    [JsonPropertyName("token_rank")] public double TokenRank { get; init; }
    /// <summary>Tokens × the batch's largest rank (mean over draws).</summary>
    [JsonPropertyName("padded_token_rank")] public double PaddedTokenRank { get; init; }
}

public sealed record KernelReportInput
{
    [JsonPropertyName("bandwidth_gbs")] public double BandwidthGbs { get; init; }
    [JsonPropertyName("hidden")] public int Hidden { get; init; }
    [JsonPropertyName("cases")] public IReadOnlyList<KernelCaseInput>? Cases { get; init; }
}

/// <summary>One case of `loraqueue bench transfer --json`.</summary>
public sealed record TransferCaseInput
{
    [JsonPropertyName("transport")] public string Transport { get; init; } = "";
    [JsonPropertyName("size_bytes")] public long SizeBytes { get; init; }
    [JsonPropertyName("pull_ms")] public double PullMs { get; init; }
}

public sealed record TransferReportInput
{
    [JsonPropertyName("cases")] public IReadOnlyList<TransferCaseInput>? Cases { get; init; }
}

/// <summary>Reads the bench commands' JSON reports; a report that lacks what a fit needs fails with the reason.</summary>
public static class BenchReports
{
    static readonly JsonSerializerOptions s_read = new() { AllowTrailingCommas = true, ReadCommentHandling = JsonCommentHandling.Skip };

    public static EngineReportInput ReadEngine(string json, string what = "engine report")
    {
        var report = Read<EngineReportInput>(json, what);
        if (report.Steps is null || report.Steps.Count == 0)
            throw new FormatException($"{what}: no 'steps' (per-step shapes and times): run `loraqueue bench engine --json` of this version, which records them");
        if (report.Model is null) throw new FormatException($"{what}: no 'model' section (the shape the steps ran)");
        for (int i = 0; i < report.Steps.Count; i++)
        {
            var s = report.Steps[i];
            if (!(s.StepMs > 0) || !double.IsFinite(s.StepMs)) throw new FormatException($"{what}: steps[{i}] ('{s.Label}'): step_ms must be positive (got {s.StepMs})");
            if (s.PrefillTokens < 0 || s.DecodeTokens < 0 || s.PrefillTokens + s.DecodeTokens == 0)
                throw new FormatException($"{what}: steps[{i}] ('{s.Label}'): needs prefill or decode tokens");
            if (s.KvTokensRead < 0) throw new FormatException($"{what}: steps[{i}] ('{s.Label}'): kv_tokens_read is negative");
            if (s.Segments.Sum(x => x.Tokens) != s.PrefillTokens + s.DecodeTokens)
                throw new FormatException($"{what}: steps[{i}] ('{s.Label}'): segment tokens ({s.Segments.Sum(x => x.Tokens)}) ≠ prefill + decode ({s.PrefillTokens + s.DecodeTokens})");
            _ = s.KernelKind;
        }
        return report;
    }

    public static KernelReportInput ReadKernels(string json, string what = "kernels report")
    {
        var report = Read<KernelReportInput>(json, what);
        if (report.Cases is null || report.Cases.Count == 0) throw new FormatException($"{what}: no 'cases'");
        var cases = new List<KernelCaseInput>();
        foreach (var c in report.Cases)
        {
            if (!(c.SegmentedMs > 0) || !(c.PaddedMs > 0)) throw new FormatException($"{what}: case '{c.Name}': segmented_ms and padded_ms must be positive");
            var fixedCase = c;
            if (!(c.TokenRank > 0))
            {
                // Older reports: Σ tokens·rank = FLOPs ÷ (2·(in + out)) with FLOPs = GFLOP/s × ms × 10⁶.
                if (!(report.Hidden > 0) || !(c.SegmentedGflops > 0))
                    throw new FormatException($"{what}: case '{c.Name}': no token_rank (and no hidden size to derive it): rerun `loraqueue bench kernels --json`");
                double tokenRank = c.SegmentedGflops * c.SegmentedMs * 1e6 / (4.0 * report.Hidden);
                fixedCase = c with { TokenRank = tokenRank, PaddedTokenRank = tokenRank * Math.Max(1, c.FlopRatio) };
            }
            if (!(fixedCase.PaddedTokenRank >= fixedCase.TokenRank))
                throw new FormatException($"{what}: case '{c.Name}': padded_token_rank ({fixedCase.PaddedTokenRank}) below token_rank ({fixedCase.TokenRank})");
            cases.Add(fixedCase);
        }
        if (!(report.Hidden > 0)) throw new FormatException($"{what}: no 'hidden' (the module size the cases ran)");
        return report with { Cases = cases };
    }

    public static TransferReportInput ReadTransfer(string json, string what = "transfer report")
    {
        var report = Read<TransferReportInput>(json, what);
        if (report.Cases is null || report.Cases.Count == 0) throw new FormatException($"{what}: no 'cases'");
        return report;
    }

    static T Read<T>(string json, string what) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, s_read) ?? throw new FormatException($"{what}: the document is JSON null");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{what}: not a report of the expected shape ({e.Message})", e);
        }
    }
}
