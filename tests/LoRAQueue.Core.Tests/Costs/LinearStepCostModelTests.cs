using LoRAQueue.Core.Costs;

namespace LoRAQueue.Core.Tests.Costs;

public class LinearStepCostModelTests
{
    internal static AcceleratorProfile Profile(StepCostForm form = StepCostForm.Linear, StepCoefficients? coefficients = null) => new()
    {
        Name = "test",
        Form = form,
        Model = new ProfileModelShape { HiddenSize = 64, Layers = 2, Parameters = 1000, WeightBytes = 4000, KvBytesPerToken = 512, LoraBytesPerRank = 1024 },
        Coefficients = coefficients ?? new StepCoefficients
        {
            OverheadMs = 2, WeightReadMs = 5, PrefillUsPerToken = 40, DecodeUsPerToken = 60, KvUsPerToken = 0.5, LoraUsPerTokenRank = 0.25,
        },
        Capacity = new ProfileCapacity { KvTokens = 10_000, MaxBatch = 64 },
        AdapterLoad = new AdapterLoadCost { ConstantMs = 30, BandwidthGbs = 25 },
        Sources =
        [
            new() { Figure = "model", Source = "test" }, new() { Figure = "coefficients", Source = "test" },
            new() { Figure = "capacity", Source = "test" }, new() { Figure = "adapter_load", Source = "test" },
        ],
    };

    static StepShape Decode(int batch, long kv, params LoraSegment[] segments) => new(0, batch, kv, segments);

    [Fact]
    public void Linear_form_adds_every_term()
    {
        var model = new LinearStepCostModel(Profile());
        var step = new StepShape(100, 8, 2000, [new LoraSegment(100, 16), new LoraSegment(8, 0)]);
        // 2 ms + 5 ms + 100·40 µs + 8·60 µs + 2000·0.5 µs + 1600·0.25 µs
        double expected = 2e-3 + 5e-3 + 100 * 40e-6 + 8 * 60e-6 + 2000 * 0.5e-6 + 1600 * 0.25e-6;
        Assert.Equal(expected, model.Seconds(step, LoraKernelKind.Segmented), 12);
        Assert.Equal(expected, model.StepTime(step, LoraKernelKind.Segmented).TotalSeconds, 6);
        var b = model.Breakdown(step, LoraKernelKind.Segmented);
        Assert.Equal(expected, b.Overhead + b.Weights + b.Tokens + b.Kv + b.Lora, 12);
    }

    [Fact]
    public void Roofline_form_takes_the_larger_of_the_weight_stream_and_the_token_work()
    {
        var model = new LinearStepCostModel(Profile(StepCostForm.Roofline));
        // 8 decode tokens: 0.48 ms of token work < 5 ms of weights: memory-bound.
        Assert.Equal(2e-3 + 5e-3 + 100 * 0.5e-6, model.Seconds(Decode(8, 100, new LoraSegment(8, 0)), LoraKernelKind.Segmented), 12);
        // 200 prompt tokens: 8 ms of token work > 5 ms: compute-bound.
        var prefill = new StepShape(200, 0, 200, [new LoraSegment(200, 0)]);
        Assert.Equal(2e-3 + 8e-3 + 200 * 0.5e-6, model.Seconds(prefill, LoraKernelKind.Segmented), 12);
        // The memory-bound region is flat in the batch: decode batch 1 and 64 (3.84 ms of work) cost the same but for KV.
        Assert.Equal(model.Seconds(Decode(1, 0, new LoraSegment(1, 0)), LoraKernelKind.Segmented),
                     model.Seconds(Decode(64, 0, new LoraSegment(64, 0)), LoraKernelKind.Segmented), 12);
    }

    [Fact]
    public void A_step_without_tokens_costs_nothing()
    {
        var model = new LinearStepCostModel(Profile());
        Assert.Equal(TimeSpan.Zero, model.StepTime(new StepShape(0, 0, 0, []), LoraKernelKind.Padded));
    }

    [Fact]
    public void Negative_counts_are_refused()
    {
        var model = new LinearStepCostModel(Profile());
        Assert.Throws<ArgumentException>(() => model.StepTime(new StepShape(0, -1, 0, []), LoraKernelKind.Segmented));
    }

    [Fact]
    public void Padded_never_costs_less_than_segmented_and_ties_when_every_segment_has_one_rank()
    {
        var random = new Random(11);
        int[] ranks = [0, 8, 16, 32, 64, 128];
        foreach (var form in new[] { StepCostForm.Linear, StepCostForm.Roofline })
        {
            var model = new LinearStepCostModel(Profile(form));
            for (int trial = 0; trial < 500; trial++)
            {
                var segments = Enumerable.Range(0, random.Next(1, 8)).Select(_ => new LoraSegment(random.Next(1, 64), ranks[random.Next(ranks.Length)])).ToArray();
                int tokens = segments.Sum(s => s.Tokens);
                int prefill = random.Next(tokens + 1);
                var step = new StepShape(prefill, tokens - prefill, random.Next(0, 5000), segments);
                double segmented = model.Seconds(step, LoraKernelKind.Segmented), padded = model.Seconds(step, LoraKernelKind.Padded);
                Assert.True(padded >= segmented, $"{form} trial {trial}: padded {padded} < segmented {segmented}");
                if (segments.Select(s => s.Rank).Distinct().Count() == 1) Assert.Equal(segmented, padded, 15);
            }

            // Named cases: one rank → equal; 8 + 128 → padded charges 128 for every token.
            var uniform = Decode(32, 1000, new LoraSegment(16, 32), new LoraSegment(16, 32));
            Assert.Equal(model.Seconds(uniform, LoraKernelKind.Segmented), model.Seconds(uniform, LoraKernelKind.Padded), 15);
            var mixed = Decode(32, 1000, new LoraSegment(16, 8), new LoraSegment(16, 128));
            Assert.Equal((32 * 128 - (16 * 8 + 16 * 128)) * 0.25e-6,
                model.Seconds(mixed, LoraKernelKind.Padded) - model.Seconds(mixed, LoraKernelKind.Segmented), 12);
        }
    }

    [Fact]
    public void Adapter_load_is_a_constant_plus_bytes_over_bandwidth()
    {
        var model = new LinearStepCostModel(Profile());
        Assert.Equal(16 * 1024, model.AdapterBytes(16));
        Assert.Equal(30e-3 + 25e9 / 25e9, model.AdapterLoadTime(25_000_000_000).TotalSeconds, 6);
        Assert.Equal(30, model.AdapterLoadTime(0).TotalMilliseconds, 6);
    }

    [Fact]
    public void The_model_refuses_an_invalid_profile()
    {
        var bad = Profile() with { Capacity = new ProfileCapacity { KvTokens = 0, MaxBatch = 1 } };
        var e = Assert.Throws<ProfileValidationException>(() => new LinearStepCostModel(bad));
        Assert.Equal("capacity.kv_tokens", e.Field);
    }

    [Fact]
    public void The_operating_point_estimate_is_tokens_over_prefill_plus_a_share_of_the_decode_steps()
    {
        var model = new LinearStepCostModel(Profile());
        var (prefill, decode) = OperatingPointEstimate.Steps(rank: 16, promptTokens: 100, outputTokens: 20, batch: 4);
        Assert.Equal(new[] { 100, 0 }, new[] { prefill.PrefillTokens, prefill.DecodeTokens });
        Assert.Equal(4 * 110, decode.KvTokensRead);
        double request = model.Seconds(prefill, LoraKernelKind.Segmented) + 20 * model.Seconds(decode, LoraKernelKind.Segmented) / 4;
        Assert.Equal(120 / request, OperatingPointEstimate.TokensPerSecond(model, 16, 100, 20, 4), 6);
        Assert.True(OperatingPointEstimate.TokensPerSecond(model, 128, 100, 20, 4) < OperatingPointEstimate.TokensPerSecond(model, 8, 100, 20, 4));
    }
}
