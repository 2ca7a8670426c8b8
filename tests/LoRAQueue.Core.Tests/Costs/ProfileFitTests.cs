using System.Text.Json;
using LoRAQueue.Core.Costs;

namespace LoRAQueue.Core.Tests.Costs;

public class ProfileFitTests
{
    // Known coefficients, like the medium preset on this machine: 12 ms per step, 1.9 ms per prompt token, 2.2 ms per decode
    // token, 0.6 µs per KV token, 2 µs per token-rank (seconds).
    const double Overhead = 12e-3, Prefill = 1.9e-3, Decode = 2.2e-3, Kv = 0.6e-6, Lora = 2e-6;

    static double Truth(StepShape s, LoraKernelKind k) =>
        Overhead + Prefill * s.PrefillTokens + Decode * s.DecodeTokens + Kv * s.KvTokensRead + Lora * s.LoraTokenRank(k);

    /// <summary>The engine sweep's shapes: decode levels at two contexts, LoRA levels at three ranks, a mixed batch under
    /// both kernels, prefill chunks with and without LoRA.</summary>
    internal static List<(string Label, StepShape Shape, LoraKernelKind Kernel)> SweepShapes()
    {
        var shapes = new List<(string, StepShape, LoraKernelKind)>();
        int[] batches = [32, 16, 8, 4, 2, 1];
        foreach (int context in new[] { 16, 128 })
            foreach (int b in batches)
                shapes.Add(($"decode ctx {context} batch {b}", new StepShape(0, b, b * (context + 20L), [new LoraSegment(b, 0)]), LoraKernelKind.Segmented));
        foreach (int rank in new[] { 8, 32, 128 })
            foreach (int b in batches)
                shapes.Add(($"decode rank {rank} batch {b}", new StepShape(0, b, b * 36L, [new LoraSegment(b, rank)]), LoraKernelKind.Segmented));
        foreach (var kernel in new[] { LoraKernelKind.Segmented, LoraKernelKind.Padded })
            foreach (int b in batches.Where(b => b > 1))
                shapes.Add(($"decode mixed {kernel} batch {b}", new StepShape(0, b, b * 36L, [new LoraSegment(b / 2, 8), new LoraSegment(b - b / 2, 128)]), kernel));
        foreach (int chunk in new[] { 32, 128, 512 })
        {
            shapes.Add(($"prefill {chunk}", new StepShape(chunk, 0, chunk, [new LoraSegment(chunk, 0)]), LoraKernelKind.Segmented));
            shapes.Add(($"prefill {chunk} rank 128", new StepShape(chunk, 0, chunk, [new LoraSegment(chunk, 128)]), LoraKernelKind.Segmented));
        }
        return shapes;
    }

    static List<StepObservation> Observations(double noise, int seed)
    {
        var random = new Random(seed);
        return [.. SweepShapes().Select(s => new StepObservation(s.Label, s.Shape, s.Kernel,
            Truth(s.Shape, s.Kernel) * (1 + noise * (2 * random.NextDouble() - 1))))];
    }

    [Fact]
    public void Exact_points_give_back_the_coefficients()
    {
        var fit = ProfileFit.FitSteps(Observations(0, 1));
        var c = fit.Coefficients;
        Assert.Equal(Overhead * 1e3, c.OverheadMs, 6);
        Assert.Equal(Prefill * 1e6, c.PrefillUsPerToken, 6);
        Assert.Equal(Decode * 1e6, c.DecodeUsPerToken, 6);
        Assert.Equal(Kv * 1e6, c.KvUsPerToken, 6);
        Assert.Equal(Lora * 1e6, c.LoraUsPerTokenRank, 6);
        Assert.Equal(1, fit.RSquared, 9);
        Assert.True(fit.MaxRelativeError < 1e-9);
        Assert.Empty(fit.Unidentified);
        Assert.Empty(fit.Clamped);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Noisy_points_give_the_coefficients_back_within_tolerance(bool relative)
    {
        // ±1 % uniform noise on every step time (a quiet machine's median step); 10 seeds so one lucky draw does not pass.
        // The tolerances follow each term's share of the steps: prompt and decode tokens carry most of the time, LoRA
        // (≤ 8 ms of an 80 ms decode step) and KV (≤ 3 ms) little, so noise moves their prices most.
        for (int seed = 1; seed <= 10; seed++)
        {
            var fit = ProfileFit.FitSteps(Observations(0.01, seed), relative);
            var c = fit.Coefficients;
            Assert.InRange(c.PrefillUsPerToken, Prefill * 1e6 * 0.99, Prefill * 1e6 * 1.01);
            Assert.InRange(c.DecodeUsPerToken, Decode * 1e6 * 0.98, Decode * 1e6 * 1.02);
            Assert.InRange(c.OverheadMs, Overhead * 1e3 * 0.85, Overhead * 1e3 * 1.15);
            Assert.InRange(c.LoraUsPerTokenRank, Lora * 1e6 * 0.85, Lora * 1e6 * 1.15);
            Assert.InRange(c.KvUsPerToken, 0, Kv * 1e6 * 2);
            Assert.True(fit.RSquared > 0.999, $"seed {seed}: R² {fit.RSquared}");
            Assert.True(fit.MaxRelativeError < 0.03, $"seed {seed}: max relative error {fit.MaxRelativeError}");
        }
    }

    [Fact]
    public void The_roofline_fit_finds_the_memory_bound_steps_and_the_coefficients()
    {
        // A machine with a 30 ms weight stream that overlaps the token work perfectly.
        const double weights = 30e-3;
        var shapes = SweepShapes();
        var observations = shapes.Select(s => new StepObservation(s.Label, s.Shape, s.Kernel,
            Overhead + Math.Max(weights, Prefill * s.Shape.PrefillTokens + Decode * s.Shape.DecodeTokens)
            + Kv * s.Shape.KvTokensRead + Lora * s.Shape.LoraTokenRank(s.Kernel))).ToList();
        var fit = ProfileFit.FitSteps(observations, relativeWeights: true, StepCostForm.Roofline, weights);
        Assert.Equal(StepCostForm.Roofline, fit.Form);
        Assert.Equal(30, fit.Coefficients.WeightReadMs, 9);
        Assert.Equal(Overhead * 1e3, fit.Coefficients.OverheadMs, 6);
        Assert.Equal(Decode * 1e6, fit.Coefficients.DecodeUsPerToken, 6);
        Assert.Equal(Lora * 1e6, fit.Coefficients.LoraUsPerTokenRank, 6);
        Assert.True(fit.MaxRelativeError < 1e-9);
        // Decode batches up to 8 (≤ 17.6 ms of token work) hide under the 30 ms stream; batch 16 (35 ms) does not.
        Assert.Contains("decode ctx 16 batch 8", fit.MemoryBound);
        Assert.DoesNotContain("decode ctx 16 batch 16", fit.MemoryBound);
        // The linear form cannot follow the flat memory-bound region: its error is larger.
        var linear = ProfileFit.FitSteps(observations, relativeWeights: true);
        Assert.True(linear.MaxRelativeError > 0.05);

        // Without the weight stream given, the grid search finds it (to its resolution: the fastest step ÷ 800).
        var searched = ProfileFit.FitSteps(observations, relativeWeights: true, StepCostForm.Roofline, weightReadSeconds: null);
        Assert.True(searched.WeightReadFitted);
        Assert.InRange(searched.Coefficients.WeightReadMs, 29.7, 30.3);
        Assert.True(searched.MaxRelativeError < 0.01, $"max relative error {searched.MaxRelativeError}");
    }

    [Fact]
    public void R_squared_and_relative_errors_are_those_of_the_fitted_model_against_each_input()
    {
        var observations = Observations(0.05, 7);
        var fit = ProfileFit.FitSteps(observations);
        var model = new LinearStepCostModel(LinearStepCostModelTests.Profile(StepCostForm.Linear, fit.Coefficients));

        Assert.Equal(observations.Count, fit.Points.Count);
        double mean = observations.Average(o => o.Seconds), sst = 0, sse = 0, maxRel = 0, sumRel = 0;
        for (int i = 0; i < observations.Count; i++)
        {
            var o = observations[i];
            var p = fit.Points[i];
            // The reported prediction is the model's (built from the fitted coefficients, weight_read 0, linear form).
            Assert.Equal(o.Label, p.Label);
            Assert.Equal(o.Seconds, p.Measured);
            Assert.Equal(model.Seconds(o.Shape, o.Kernel), p.Predicted, 12);
            Assert.Equal((p.Predicted - o.Seconds) / o.Seconds, p.RelativeError, 12);
            sst += (o.Seconds - mean) * (o.Seconds - mean);
            sse += (o.Seconds - p.Predicted) * (o.Seconds - p.Predicted);
            maxRel = Math.Max(maxRel, Math.Abs(p.RelativeError));
            sumRel += Math.Abs(p.RelativeError);
        }
        Assert.Equal(1 - sse / sst, fit.RSquared, 12);
        Assert.Equal(maxRel, fit.MaxRelativeError, 12);
        Assert.Equal(sumRel / observations.Count, fit.MeanRelativeError, 12);
        Assert.True(fit.RSquared < 1);
    }

    [Fact]
    public void Ordinary_least_squares_minimises_the_squared_residuals()
    {
        // Any nudge of any coefficient makes the sum of squares larger (the fit is the optimum, not just close).
        var observations = Observations(0.05, 3);
        var fit = ProfileFit.FitSteps(observations);
        double Sse(StepCoefficients c)
        {
            var m = new LinearStepCostModel(LinearStepCostModelTests.Profile(StepCostForm.Linear, c));
            return observations.Sum(o => Math.Pow(m.Seconds(o.Shape, o.Kernel) - o.Seconds, 2));
        }
        double best = Sse(fit.Coefficients);
        var c = fit.Coefficients;
        foreach (var nudged in new[]
        {
            c with { OverheadMs = c.OverheadMs * 1.01 }, c with { OverheadMs = c.OverheadMs * 0.99 },
            c with { PrefillUsPerToken = c.PrefillUsPerToken * 1.001 }, c with { DecodeUsPerToken = c.DecodeUsPerToken * 0.999 },
            c with { KvUsPerToken = c.KvUsPerToken * 1.05 + 1e-6 }, c with { LoraUsPerTokenRank = c.LoraUsPerTokenRank * 1.05 },
        })
            Assert.True(Sse(nudged) > best);
    }

    [Fact]
    public void A_coefficient_that_would_come_out_negative_is_held_at_zero_and_reported()
    {
        // True KV price 0, and noise that happens to favour a negative one: the fit holds it at 0.
        var shapes = SweepShapes();
        var observations = shapes.Select(s => new StepObservation(s.Label, s.Shape, s.Kernel,
            Truth(s.Shape, s.Kernel) - Kv * s.Shape.KvTokensRead - 0.4e-6 * s.Shape.KvTokensRead * (s.Shape.DecodeTokens > 0 ? 1 : 0))).ToList();
        var fit = ProfileFit.FitSteps(observations);
        Assert.Equal(0, fit.Coefficients.KvUsPerToken);
        Assert.Contains("kv", fit.Clamped);
        Assert.True(fit.Coefficients.DecodeUsPerToken > 0);
    }

    [Fact]
    public void Without_LoRA_steps_the_LoRA_price_is_unidentified()
    {
        var observations = Observations(0, 1).Where(o => o.Shape.LoraTokenRank(LoraKernelKind.Padded) == 0).ToList();
        var fit = ProfileFit.FitSteps(observations);
        Assert.Contains("lora", fit.Unidentified);
        Assert.Equal(0, fit.Coefficients.LoraUsPerTokenRank);
        Assert.Equal(Decode * 1e6, fit.Coefficients.DecodeUsPerToken, 6);
    }

    [Fact]
    public void Least_squares_solves_a_line_and_refuses_dependent_columns()
    {
        double[][] rows = [[1, 0], [1, 1], [1, 2], [1, 3]];
        var s = LeastSquares.Solve(rows, [1, 3, 5, 7.5]);
        // Closed form: slope = Sxy/Sxx = 10.75/5 = 2.15, intercept = ȳ − slope·x̄ = 4.125 − 3.225 = 0.9.
        Assert.Equal(2.15, s.Coefficients[1], 12);
        Assert.Equal(0.9, s.Coefficients[0], 12);
        Assert.Throws<ArgumentException>(() => LeastSquares.Solve([[1, 2], [2, 4], [3, 6]], [1, 2, 3]));
        Assert.Throws<ArgumentException>(() => LeastSquares.Solve([[1, double.NaN]], [1]));
    }

    // ---- from the bench reports' JSON ----

    internal static string EngineJson(bool withLora = true, bool withSteps = true)
    {
        var steps = SweepShapes()
            .Where(s => withLora || s.Shape.LoraTokenRank(LoraKernelKind.Padded) == 0)
            .Select(s => new StepMeasurement
            {
                Label = s.Label,
                PrefillTokens = s.Shape.PrefillTokens,
                DecodeTokens = s.Shape.DecodeTokens,
                KvTokensRead = s.Shape.KvTokensRead,
                Kernel = s.Kernel == LoraKernelKind.Padded ? "padded" : "segmented",
                Segments = [.. s.Shape.Segments.Select(x => new MeasuredSegment(x.Tokens, x.Rank))],
                StepMs = Truth(s.Shape, s.Kernel) * 1e3,
                TimedSteps = 4,
            }).ToList();
        var report = new Dictionary<string, object?>
        {
            ["preset"] = "medium",
            ["weights_bytes"] = 492_000_000L,
            ["bandwidth_gbs"] = 40.0,
            ["decode"] = Array.Empty<object>(),
            ["prefill_tokens_per_s"] = 500.0,
            ["gemm_gflops"] = 200.0,
            ["model"] = new BenchModelShape
            {
                Name = "medium", HiddenSize = 1024, Layers = 16, Parameters = 246_000_000, WeightBytes = 492_000_000,
                KvBytesPerToken = 32768, LoraBytesPerRank = 163_840, LoraFlopsPerTokenRank = 81_920, LoraTargets = ["q_proj", "k_proj", "v_proj", "o_proj"],
            },
            ["steps"] = withSteps ? steps : null,
        };
        return JsonSerializer.Serialize(report);
    }

    /// <summary>Kernel cases on a 4096 module whose line is 0.01 ms + <paramref name="nsPerTokenRank"/> ns per token-rank.</summary>
    internal static string KernelsJson(double nsPerTokenRank = 12) => JsonSerializer.Serialize(new
    {
        bandwidth_gbs = 30.0,
        hidden = 4096,
        cases = new[] { (name: "uniform-8", tr: 2048.0, ptr: 2048.0), (name: "uniform-128", tr: 32768.0, ptr: 32768.0), (name: "mixed", tr: 11000.0, ptr: 32768.0) }
            .Select(c => new
            {
                c.name, tokens = 256, ranks = new[] { 8 }, segmented_ms = 0.01 + c.tr * nsPerTokenRank * 1e-6, padded_ms = 0.01 + c.ptr * nsPerTokenRank * 1e-6,
                loop_ms = 1.0, segmented_gflops = 50.0, flop_ratio = c.ptr / c.tr, token_rank = c.tr, padded_token_rank = c.ptr,
            }),
    });

    static ProfileFitOptions Options => new()
    {
        Name = "cpu-test", KvTokens = 2048, KvTokensSource = "test", MaxBatch = 16, MaxBatchSource = "test",
        EngineSource = "engine.json", KernelsSource = "kernels.json", TransferSource = "transfer.json",
    };

    [Fact]
    public void A_profile_fitted_from_reports_is_valid_names_its_sources_and_reproduces_the_steps()
    {
        var engine = BenchReports.ReadEngine(EngineJson());
        var kernels = BenchReports.ReadKernels(KernelsJson());
        var result = ProfileFit.Fit(engine, kernels, null, Options);
        var p = result.Profile;
        Assert.Equal(StepCostForm.Linear, p.Form);
        Assert.Equal(Overhead * 1e3, p.Coefficients!.OverheadMs, 3);
        Assert.Equal(Lora * 1e6, p.Coefficients.LoraUsPerTokenRank, 4);
        Assert.Equal(0, p.Coefficients.WeightReadMs);
        Assert.Equal(32768, p.Model!.KvBytesPerToken);
        Assert.Equal(SweepShapes().Count, p.Fit!.Points);
        Assert.True(p.Fit.RSquared > 0.99999);
        foreach (string figure in AcceleratorProfiles.RequiredFigures(p).Where(f => f.Contains('.') || f is "model" or "fit"))
            Assert.Contains(p.Sources, s => AcceleratorProfiles.Covers(s.Figure, figure));
        Assert.Contains("engine.json", p.Sources.Single(s => s.Figure == "coefficients.decode_us_per_token").Source);
        // The kernels' line (12 ns per token-rank on a 4096 module) × 81,920 FLOPs ÷ 16,384 = 0.06 µs: reported as a cross-check.
        Assert.Equal(12e-6 * 1e3 * 81_920 / 16_384, result.Kernels!.ImpliedUsPerTokenRank(81_920), 9);
        Assert.InRange(result.Kernels.PaddedPricePerSegmentedPrice, 0.9, 1.1); // the fixed 10 µs makes the mixed case's padded price a little lower
        Assert.Contains(result.Notes, n => n.Contains("implies", StringComparison.Ordinal));
        // The written profile loads back.
        Assert.Equal(AcceleratorProfiles.ToJson(p), AcceleratorProfiles.ToJson(AcceleratorProfiles.Parse(AcceleratorProfiles.ToJson(p))));
    }

    [Fact]
    public void Without_LoRA_steps_the_kernels_line_prices_LoRA_and_without_it_the_fit_fails()
    {
        var engine = BenchReports.ReadEngine(EngineJson(withLora: false));
        var result = ProfileFit.Fit(engine, BenchReports.ReadKernels(KernelsJson(12)), null, Options);
        Assert.Equal(Math.Round(12e-3 * 81_920 / 16_384, 6), result.Profile.Coefficients!.LoraUsPerTokenRank, 6);
        Assert.Contains("kernels.json", result.Profile.Sources.Single(s => s.Figure == "coefficients.lora_us_per_token_rank").Source);
        var e = Assert.Throws<FormatException>(() => ProfileFit.Fit(engine, null, null, Options));
        Assert.Contains("LoRA", e.Message);
    }

    [Fact]
    public void Reports_without_what_a_fit_needs_are_refused_with_the_reason()
    {
        Assert.Contains("steps", Assert.Throws<FormatException>(() => BenchReports.ReadEngine(EngineJson(withSteps: false))).Message);
        Assert.Contains("model", Assert.Throws<FormatException>(() => BenchReports.ReadEngine("""{"steps":[{"label":"x","decode_tokens":1,"segments":[{"tokens":1,"rank":0}],"step_ms":1}]}""")).Message);
        Assert.Contains("kernel 'fused'", Assert.Throws<FormatException>(() => BenchReports.ReadEngine(
            """{"model":{},"steps":[{"label":"x","decode_tokens":1,"kernel":"fused","segments":[{"tokens":1,"rank":0}],"step_ms":1}]}""")).Message);
        Assert.Contains("segment tokens", Assert.Throws<FormatException>(() => BenchReports.ReadEngine(
            """{"model":{},"steps":[{"label":"x","decode_tokens":2,"segments":[{"tokens":1,"rank":0}],"step_ms":1}]}""")).Message);
        Assert.Contains("not a report", Assert.Throws<FormatException>(() => BenchReports.ReadEngine("[1,2]")).Message);
        Assert.Contains("cases", Assert.Throws<FormatException>(() => BenchReports.ReadKernels("""{"hidden":4096}""")).Message);
    }

    [Fact]
    public void A_transfer_report_gives_the_adapter_load_line()
    {
        // 2 ms + bytes ÷ 4 GB/s for "tcp am"; another transport's cases are ignored.
        var cases = new[] { 1L << 20, 16L << 20, 128L << 20 }
            .SelectMany(size => new object[]
            {
                new { transport = "tcp am", size_bytes = size, pull_ms = 2 + size / 4e9 * 1e3, gbps = 0.0 },
                new { transport = "shm get", size_bytes = size, pull_ms = 1.0, gbps = 0.0 },
            });
        var transfer = BenchReports.ReadTransfer(JsonSerializer.Serialize(new { memcpy_gbps = 9.0, socket_gbps = 3.0, cases, ucx_version = "1.13" }));
        var (constant, bandwidth, r2, n) = ProfileFit.FitTransfer(transfer, "tcp am");
        Assert.Equal(2, constant, 6);
        Assert.Equal(4, bandwidth, 6);
        Assert.Equal(1, r2, 9);
        Assert.Equal(3, n);
        var profile = ProfileFit.Fit(BenchReports.ReadEngine(EngineJson()), null, transfer, Options).Profile;
        Assert.Equal(2, profile.AdapterLoad!.ConstantMs, 6);
        Assert.Equal(4, profile.AdapterLoad.BandwidthGbs, 6);
        Assert.Contains("transfer.json", profile.Sources.Single(s => s.Figure == "adapter_load").Source);
        Assert.Throws<FormatException>(() => ProfileFit.FitTransfer(transfer, "rdma"));
    }
}
