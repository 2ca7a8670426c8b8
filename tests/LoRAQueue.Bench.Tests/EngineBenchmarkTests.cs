using System.Text.Json;

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
}
