using System.Text.Json;
using LoRAQueue.Kernels;

namespace LoRAQueue.Bench.Tests;

public class KernelBenchmarkTests
{
    [Fact]
    public void Kernel_bench_report_has_the_exact_json_fields()
    {
        var options = new KernelBenchOptions
        {
            Hidden = 96, Tokens = 24, DecodeSequences = 5, Adapters = 6, Warmup = 0, Repeats = 1, BandwidthBytes = 1 << 20,
        };
        var messages = new List<string>();
        var report = KernelBenchmark.Run(options, new SynchronousProgress(messages));
        using var json = JsonDocument.Parse(report.ToJson());
        var root = json.RootElement;
        Assert.Equal(["bandwidth_gbs", "cases", "hidden"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(96, root.GetProperty("hidden").GetInt32());
        Assert.True(root.GetProperty("bandwidth_gbs").GetDouble() > 0);
        var cases = root.GetProperty("cases").EnumerateArray().ToList();
        Assert.Equal(KernelBenchmark.CaseNames, cases.Select(c => c.GetProperty("name").GetString()));
        foreach (var c in cases)
        {
            Assert.Equal(["name", "tokens", "ranks", "segmented_ms", "padded_ms", "loop_ms", "segmented_gflops", "flop_ratio", "token_rank", "padded_token_rank"],
                         c.EnumerateObject().Select(p => p.Name));
            // token-rank × 2·(in + out) = the FLOPs behind flop_ratio: padded ÷ segmented token-rank is the FLOP ratio.
            Assert.Equal(c.GetProperty("flop_ratio").GetDouble(),
                         c.GetProperty("padded_token_rank").GetDouble() / c.GetProperty("token_rank").GetDouble(), 2);
            Assert.True(c.GetProperty("segmented_ms").GetDouble() > 0);
            Assert.True(c.GetProperty("flop_ratio").GetDouble() >= 1);
            Assert.NotEmpty(c.GetProperty("ranks").EnumerateArray());
        }
        var uniform = cases.Single(c => c.GetProperty("name").GetString() == "uniform-128");
        Assert.Equal(24, uniform.GetProperty("tokens").GetInt32());
        Assert.Equal(1.0, uniform.GetProperty("flop_ratio").GetDouble());
        Assert.All(uniform.GetProperty("ranks").EnumerateArray(), r => Assert.Equal(128, r.GetInt32()));
        Assert.Equal(24 * 128, uniform.GetProperty("token_rank").GetDouble());
        Assert.Equal(24 * 128, uniform.GetProperty("padded_token_rank").GetDouble());
        // What `twin profile fit` reads from it.
        var input = LoRAQueue.Core.Costs.BenchReports.ReadKernels(report.ToJson());
        Assert.Equal(96, input.Hidden);
        Assert.Equal(cases.Count, input.Cases!.Count);
        Assert.Equal(5, cases.Single(c => c.GetProperty("name").GetString() == "decode-mixed").GetProperty("tokens").GetInt32());
        Assert.Equal(1 + cases.Count, messages.Count);
    }

    [Fact]
    public void Mixed_workload_follows_its_stated_construction()
    {
        var options = new KernelBenchOptions { Hidden = 32, Tokens = 400, Adapters = 10 };
        var mixed = KernelBenchmark.Build("mixed", options);
        Assert.Equal(400, mixed.Segments.Sum(s => s.Length));
        Assert.All(mixed.Segments, s => Assert.Contains(s.Module!.Rank, options.RankChoices));
        for (int i = 1; i < mixed.Segments.Length; i++)
            Assert.Equal(mixed.Segments[i - 1].Start + mixed.Segments[i - 1].Length, mixed.Segments[i].Start);
        Assert.True(mixed.Segments[0].Length > mixed.Segments[^1].Length);   // Zipf: most popular adapter first
        Assert.True(mixed.Flops(mixed.MaxRank) >= mixed.Flops());
    }

    [Fact]
    public void Unknown_case_names_and_bad_options_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => KernelBenchmark.Run(new KernelBenchOptions { Cases = ["nope"] }));
        Assert.Throws<ArgumentOutOfRangeException>(() => KernelBenchmark.Run(new KernelBenchOptions { Repeats = 0 }));
    }

    [Fact]
    public void Gemm_bench_and_bandwidth_probe_report_positive_rates()
    {
        var result = GemmBenchmark.Run(64, 96, 3, WeightType.BF16, warmup: 0, repeats: 1);
        Assert.True(result.Ms > 0 && result.WeightGBs > 0 && result.Gflops > 0);
        double gbs = MemoryBandwidth.MeasureReadGBs(1 << 20, 2);
        Assert.True(double.IsFinite(gbs) && gbs > 0);
    }

    [Fact]
    public void Bandwidth_probe_reads_its_whole_buffer_on_every_pass_and_refuses_use_after_dispose()
    {
        var probe = new ReadBandwidthProbe(3 << 20);
        Assert.InRange(probe.Bytes, (3 << 20) - 256 * 64, 3 << 20);   // chunks are whole 256-byte multiples
        Assert.True(probe.MeasureGBs() > 0);
        Assert.True(probe.MeasureGBs(3) > 0);
        probe.Dispose();
        probe.Dispose();
        Assert.Throws<ObjectDisposedException>(() => probe.MeasureGBs());
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReadBandwidthProbe(100));
    }

    sealed class SynchronousProgress(List<string> messages) : IProgress<string>
    {
        public void Report(string value) => messages.Add(value);
    }
}
