using LoRAQueue.Core.Costs;

namespace LoRAQueue.Core.Tests.Costs;

/// <summary>
/// The built-in a100 profile: it loads, its figures are what its sources say (re-derived here from first principles and
/// from the LoRAServe prototype's operating points), and its step times are plausible against those operating points.
/// </summary>
public class A100ProfileTests
{
    static readonly AcceleratorProfile Profile = AcceleratorProfiles.Builtin("a100");
    static readonly LinearStepCostModel Model = new(Profile);

    /// <summary>The research notes' "prod 7b tp1" table (LoRAServe prototype, one A100 80GB per server).</summary>
    static readonly Dictionary<int, double> ProdTp1 = new() { [8] = 5950, [16] = 5150, [32] = 4700, [64] = 5050, [128] = 4650 };

    [Fact]
    public void It_loads_as_a_roofline_profile_of_llama_2_7b()
    {
        Assert.Equal("a100", Model.Name);
        Assert.Equal(StepCostForm.Roofline, Profile.Form);
        Assert.Equal(4096, Profile.Model!.HiddenSize);
        Assert.Equal(32, Profile.Model.Layers);
        Assert.InRange(Profile.Model.WeightBytes, 13.4e9, 14.0e9); // "14 GB of weights"
        Assert.Equal(ProdTp1.OrderBy(kv => kv.Key), Profile.OperatingPoints!.TokensPerS.OrderBy(kv => kv.Key));
        Assert.Equal("a100", AcceleratorProfiles.Resolve("A100").Name);
    }

    [Fact]
    public void The_first_principles_figures_follow_from_the_model_and_the_datasheet()
    {
        var m = Profile.Model!;
        var h = Profile.Hardware!;
        var c = Profile.Coefficients!;
        double bandwidth = h.MemoryBandwidthGbs * 1e9, flops = h.PeakGflops * 1e9;
        Assert.Equal(2000, h.MemoryBandwidthGbs);
        Assert.Equal(312_000, h.PeakGflops);
        Assert.Equal(m.Parameters * 2, m.WeightBytes);                        // FP16
        Assert.Equal(2L * m.Layers * m.HiddenSize * 2, m.KvBytesPerToken);     // K and V, FP16
        Assert.Equal(4L * m.Layers * (m.HiddenSize + m.HiddenSize) * 2, m.LoraBytesPerRank); // q,k,v,o, FP16
        Assert.Equal(16L << 20, Model.AdapterBytes(8));                        // the notes: rank 8 ≈ 16 MiB
        Assert.Equal(256L << 20, Model.AdapterBytes(128));                     // rank 128 ≈ 256 MiB
        AssertClose(m.WeightBytes / bandwidth * 1e3, c.WeightReadMs);
        AssertClose(2.0 * m.Parameters / flops * 1e6, c.PrefillUsPerToken);
        AssertClose(2.0 * m.Parameters / flops * 1e6, c.DecodeUsPerToken);
        AssertClose(m.KvBytesPerToken / bandwidth * 1e6, c.KvUsPerToken);
        // The KV pool plus the weights fit in 80 GiB with room for activations.
        Assert.InRange(Profile.Capacity!.KvTokens * m.KvBytesPerToken + m.WeightBytes, 60L << 30, 80L << 30);
    }

    [Theory]
    [InlineData("a100")]
    [InlineData("a100-40gb")]
    public void Overhead_and_LoRA_price_are_the_least_squares_fit_of_the_operating_points(string name)
    {
        // With the first-principles coefficients fixed, each operating point gives
        //   (prompt + output) / OP − known = overhead · (1 + output/batch) + lora · rank · (prompt + output).
        var profile = AcceleratorProfiles.Builtin(name);
        var op = profile.OperatingPoints!;
        var withoutFitted = new LinearStepCostModel(profile with
        {
            Coefficients = profile.Coefficients! with { OverheadMs = 0, LoraUsPerTokenRank = 0 },
        });
        int tokens = op.PromptTokens + op.OutputTokens;
        var rows = op.TokensPerS.Select(kv => new double[] { 1 + (double)op.OutputTokens / op.Batch, (double)kv.Key * tokens }).ToArray();
        var y = op.TokensPerS.Select(kv => tokens / kv.Value
            - OperatingPointEstimate.RequestSeconds(withoutFitted, kv.Key, op.PromptTokens, op.OutputTokens, op.Batch)).ToArray();
        var fit = LeastSquares.Solve(rows, y, nonNegative: true);
        AssertClose(fit.Coefficients[0] * 1e3, profile.Coefficients!.OverheadMs);
        AssertClose(fit.Coefficients[1] * 1e6, profile.Coefficients.LoraUsPerTokenRank);
    }

    [Fact]
    public void The_40_gb_profile_follows_its_table_and_prices_rank_six_times_higher()
    {
        var profile = AcceleratorProfiles.Builtin("a100-40gb");
        var model = new LinearStepCostModel(profile);
        Assert.Equal(new Dictionary<int, double> { [8] = 2400, [16] = 2100, [32] = 1900, [64] = 1700, [128] = 1600 }.OrderBy(kv => kv.Key),
                     profile.OperatingPoints!.TokensPerS.OrderBy(kv => kv.Key));
        AssertClose(profile.Model!.WeightBytes / (profile.Hardware!.MemoryBandwidthGbs * 1e9) * 1e3, profile.Coefficients!.WeightReadMs);
        foreach (var (_, measured, estimated) in OperatingPointEstimate.Compare(model, profile.OperatingPoints))
            Assert.InRange(estimated / measured, 0.90, 1.10);
        Assert.InRange(profile.Coefficients.LoraUsPerTokenRank / Profile.Coefficients!.LoraUsPerTokenRank, 5.5, 6.5);
        // Padding half of a 32-sequence decode step from rank 8 to 128 costs about 5 % of the step (2 % on the a100 profile,
        // whose decode steps are cheaper but whose LoRA price is six times lower).
        var mixed = new StepShape(0, 32, 32 * 576, [new LoraSegment(16, 8), new LoraSegment(16, 128)]);
        double padded = model.StepTime(mixed, LoraKernelKind.Padded).TotalMilliseconds, segmented = model.StepTime(mixed, LoraKernelKind.Segmented).TotalMilliseconds;
        Assert.InRange((padded - segmented) / padded, 0.04, 0.06);
    }

    [Fact]
    public void The_model_reproduces_every_operating_point_within_eleven_percent()
    {
        // The table is not monotone in rank (64 is faster than 32), so a model linear in rank cannot do better than ~10 %.
        foreach (var (rank, measured, estimated) in OperatingPointEstimate.Compare(Model, Profile.OperatingPoints!))
            Assert.InRange(estimated / measured, 0.89, 1.11);
        // Higher ranks cost more.
        Assert.True(OperatingPointEstimate.TokensPerSecond(Model, 128, 512, 128, 32) < OperatingPointEstimate.TokensPerSecond(Model, 8, 512, 128, 32));
    }

    [Fact]
    public void A_decode_step_at_batch_32_rank_16_is_plausible_against_the_operating_points()
    {
        // 32 sequences at the operating points' mean context (512 prompt + 64 of 128 outputs), one rank-16 adapter each.
        var step = new StepShape(0, 32, 32 * 576, [.. Enumerable.Repeat(new LoraSegment(1, 16), 32)]);
        double ms = Model.StepTime(step, LoraKernelKind.Segmented).TotalMilliseconds;
        // Stated range: 15–30 ms. Floor: weights (6.7 ms) + KV (4.8 ms) at 2.0 TB/s with nothing else = 11.6 ms; a decode-only
        // server at that step time gives 32/step tokens/s, which must stay below the rank-16 operating point (5150 tokens/s
        // of prompt + output, 4/5 of them cheap prompt tokens) and above a fifth of it (the output tokens' share).
        Assert.InRange(ms, 15, 30);
        double decodeTokensPerS = 32 / (ms / 1e3);
        Assert.InRange(decodeTokensPerS, ProdTp1[16] / 5, ProdTp1[16]);
        // Memory-bound: batch 1 and batch 32 differ only by KV and LoRA, not by weight streaming.
        var single = new StepShape(0, 1, 576, [new LoraSegment(1, 16)]);
        var b = Model.Breakdown(single, LoraKernelKind.Segmented);
        Assert.Equal(Profile.Coefficients!.WeightReadMs * 1e-3, b.WeightsAndTokens, 12);
        Assert.Equal(Model.Breakdown(step, LoraKernelKind.Segmented).WeightsAndTokens, b.WeightsAndTokens, 12);
    }

    [Fact]
    public void Padding_a_mixed_batch_to_rank_128_costs_more_than_segmenting_it()
    {
        var mixed = new StepShape(0, 32, 32 * 576, [new LoraSegment(16, 8), new LoraSegment(16, 128)]);
        double segmented = Model.StepTime(mixed, LoraKernelKind.Segmented).TotalMilliseconds;
        double padded = Model.StepTime(mixed, LoraKernelKind.Padded).TotalMilliseconds;
        Assert.True(padded > segmented);
        Assert.Equal(16 * (128 - 8) * Profile.Coefficients!.LoraUsPerTokenRank * 1e-3, padded - segmented, 3);
        var prefill = new StepShape(512, 0, 512, [new LoraSegment(256, 8), new LoraSegment(256, 128)]);
        Assert.True(Model.StepTime(prefill, LoraKernelKind.Padded) > Model.StepTime(prefill, LoraKernelKind.Segmented));
    }

    [Fact]
    public void The_examples_in_docs_cost_model_md_hold()
    {
        var step = new StepShape(0, 32, 32 * 576, [new LoraSegment(16, 8), new LoraSegment(16, 128)]);
        Assert.Equal(22.6, Model.StepTime(step, LoraKernelKind.Padded).TotalMilliseconds, 1);
        Assert.Equal(35.4, Model.AdapterLoadTime(Model.AdapterBytes(64)).TotalMilliseconds, 1);
    }

    [Fact]
    public void Adapter_loads_follow_the_prototype_model()
    {
        // 30 ms + 16 MiB ÷ 25 GB/s and 30 ms + 256 MiB ÷ 25 GB/s.
        Assert.Equal(30 + (16 << 20) / 25e9 * 1e3, Model.AdapterLoadTime(Model.AdapterBytes(8)).TotalMilliseconds, 3);
        Assert.Equal(30 + (256 << 20) / 25e9 * 1e3, Model.AdapterLoadTime(Model.AdapterBytes(128)).TotalMilliseconds, 3);
    }

    static void AssertClose(double expected, double actual) =>
        Assert.True(Math.Abs(expected - actual) <= 5e-4 * Math.Abs(expected), $"expected {expected}, profile has {actual}");
}
