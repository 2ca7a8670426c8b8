using System.Text.Json;
using LoRAQueue.Core.Costs;

namespace LoRAQueue.Bench.Tests;

/// <summary>The engine benchmark's report shape and its bound arithmetic (speed itself is measured, not asserted).</summary>
public sealed class EngineBenchmarkTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void ReportHasEveryFieldWithMeasuredValues()
    {
        var report = EngineBenchmark.Run(fixture.ModelDir, new EngineBenchOptions
        {
            Batches = [1, 4], WarmupSteps = 1, WarmupSeconds = 0, TimedSteps = 3, PrefillTokens = 32,
            BandwidthBytes = 8L << 20, BandwidthRepeats = 1, GemmRepeats = 1,
            SweepBatches = [2, 1], SweepContexts = [8], SweepRanks = [], SweepPrefillChunks = [], SweepWarmupSteps = 0, SweepTimedSteps = 1,
        });
        using var json = JsonDocument.Parse(report.ToJson());
        var root = json.RootElement;
        Assert.Equal("tiny", root.GetProperty("preset").GetString());
        Assert.Equal(fixture.Model.WeightBytes, root.GetProperty("weights_bytes").GetInt64());
        Assert.True(root.GetProperty("bandwidth_gbs").GetDouble() > 0);
        Assert.True(root.GetProperty("prefill_tokens_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("gemm_gflops").GetDouble() > 0);
        var decode = root.GetProperty("decode").EnumerateArray().ToList();
        Assert.Equal([1, 4], decode.Select(d => d.GetProperty("batch").GetInt32()));
        Assert.All(decode, d => Assert.True(d.GetProperty("tokens_per_s").GetDouble() > 0));
        Assert.All(decode, d => Assert.True(d.GetProperty("bound_tokens_per_s").GetDouble() > 0));
        Assert.All(decode, d => Assert.True(d.GetProperty("bandwidth_gbs").GetDouble() > 0));
    }

    [Fact]
    public void DecodeStepBytesCountLayersLmHeadEmbeddingRowsAndKv()
    {
        var model = fixture.Model;
        var c = model.Config;
        // tiny, F32, untied: every layer matrix and norm, the whole lm_head, the final norm.
        long layer = 4L * (c.QueryDim * c.HiddenSize * 2 + c.KeyValueDim * c.HiddenSize * 2 + 3L * c.IntermediateSize * c.HiddenSize + 2 * c.HiddenSize);
        long fixedBytes = c.NumHiddenLayers * layer + 4L * c.VocabSize * c.HiddenSize + 4L * c.HiddenSize;
        long embeddingRow = 4L * c.HiddenSize;
        long kvPerToken = 4L * 2 * c.NumHiddenLayers * c.KeyValueDim;

        Assert.Equal(fixedBytes + embeddingRow, EngineBenchmark.DecodeStepBytes(model, batch: 1, averageContext: 0));
        Assert.Equal(fixedBytes + 8 * embeddingRow + 8 * 20 * kvPerToken, EngineBenchmark.DecodeStepBytes(model, batch: 8, averageContext: 20));
    }

    [Fact]
    public void The_step_sweep_records_each_shape_and_the_profile_fit_reads_it()
    {
        var options = new EngineBenchOptions
        {
            Batches = [1], WarmupSteps = 1, WarmupSeconds = 0, TimedSteps = 1, PrefillTokens = 16,
            BandwidthBytes = 8L << 20, BandwidthRepeats = 1, GemmRepeats = 1,
            SweepBatches = [1, 4, 2], SweepContexts = [8, 24], SweepRanks = [16, 4], SweepAdapters = 2,
            SweepPrefillChunks = [16, 40], SweepWarmupSteps = 1, SweepTimedSteps = 2,
        };
        var report = EngineBenchmark.Run(fixture.ModelDir, options);
        var engine = BenchReports.ReadEngine(report.ToJson());
        var steps = engine.Steps!;
        var c = fixture.Model.Config;

        // Model section: what the fit needs to turn token counts into bytes and FLOPs.
        var model = engine.Model!;
        Assert.Equal(c.HiddenSize, model.HiddenSize);
        Assert.Equal(c.NumHiddenLayers, model.Layers);
        Assert.Equal(fixture.Model.WeightBytes, model.WeightBytes);
        Assert.Equal(4L * 2 * c.NumHiddenLayers * c.KeyValueDim, model.KvBytesPerToken); // F32 K and V of every layer
        long perRank = 2L * (c.HiddenSize + c.QueryDim) + 2L * (c.HiddenSize + c.KeyValueDim); // q, o, k, v
        Assert.Equal(c.NumHiddenLayers * perRank * 4, model.LoraBytesPerRank);
        Assert.Equal(c.NumHiddenLayers * perRank * 2, model.LoraFlopsPerTokenRank);
        Assert.Equal(fixture.Model.WeightBytes, model.Parameters * 4); // F32 tiny: 4 bytes per parameter

        // Decode levels: 2 contexts × 3 batches (base), 2 ranks × 3, the mixed batch × 2 kernels × 3; prefill: 2 chunks × 2.
        Assert.Equal(6 + 6 + 6 + 4, steps.Count);
        Assert.All(steps, s => Assert.True(s.StepMs > 0 && s.StepMsMin > 0 && s.StepMsMin <= s.StepMs));
        Assert.All(steps, s => Assert.Equal(s.PrefillTokens + s.DecodeTokens, s.Segments.Sum(x => x.Tokens)));
        Assert.Equal(["decode ctx 8 batch 4", "decode ctx 8 batch 2", "decode ctx 8 batch 1"], steps.Take(3).Select(s => s.Label));
        // Batch b at level l (0-based, largest first) runs decode steps l·3 … l·3+2, timing the last two: each of its
        // sequences attends over prompt (8) + step + 1 positions.
        int level = 0;
        foreach (var s in steps.Take(3))
        {
            Assert.Equal(0, s.PrefillTokens);
            double mean = (8 + level * 3 + 1 + 1 + 8 + level * 3 + 2 + 1) / 2.0;
            Assert.Equal((long)Math.Round(s.DecodeTokens * mean), s.KvTokensRead);
            Assert.Equal(2, s.TimedSteps);
            level++;
        }
        var rank16 = steps.Single(s => s.Label == "decode ctx 8 rank 16 batch 4");
        Assert.Equal([new MeasuredSegment(2, 16), new MeasuredSegment(2, 16)], rank16.Segments); // two adapters, round-robin
        var mixedPadded = steps.Single(s => s.Label == "decode ctx 8 ranks 4+16 padded batch 4");
        Assert.Equal("padded", mixedPadded.Kernel);
        Assert.Equal(4 * 16, mixedPadded.ToShape().LoraTokenRank(LoraKernelKind.Padded));
        Assert.Equal(2 * 4 + 2 * 16, mixedPadded.ToShape().LoraTokenRank(LoraKernelKind.Segmented));
        var prefill = steps.Single(s => s.Label == "prefill 40 rank 16");
        Assert.Equal((40, 0, 40L), (prefill.PrefillTokens, prefill.DecodeTokens, prefill.KvTokensRead));

        // The fit takes it as it is (speed is not asserted: only that every point is accounted for).
        var fit = ProfileFit.Fit(engine, null, null, new ProfileFitOptions
        {
            KvTokens = 1000, KvTokensSource = "test", MaxBatch = 4, MaxBatchSource = "test", Form = StepCostForm.Linear,
        });
        Assert.Equal(steps.Count, fit.Profile.Fit!.Points);
        Assert.Equal(steps.Select(s => s.Label), fit.Steps.Points.Select(p => p.Label));
    }
}
