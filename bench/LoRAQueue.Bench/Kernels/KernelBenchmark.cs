using System.Diagnostics;
using LoRAQueue.Kernels;

namespace LoRAQueue.Bench;

/// <summary>
/// Segmented vs padded vs per-request-loop multi-LoRA on one module (in = out = Hidden), with the machine's
/// read bandwidth measured in the same run. Each timed run is Shrink + Expand of a whole batch; the three
/// kernels are timed round-robin (so a burst of background load hits them alike) and the median is kept.
/// Before timing, the kernels' outputs are checked against each other.
/// Cases (construction in <see cref="LoraWorkload"/>): uniform-8 / uniform-128 (every adapter one rank),
/// mixed (ranks from the rank choices), each a batch of Tokens tokens over Adapters Zipf-popular adapters;
/// decode-* the same with DecodeSequences tokens (one per sequence). The mixed cases average over RankDraws
/// independent batches (new token assignment and rank draw each), so the result describes rank heterogeneity
/// rather than which rank one draw happened to give the most popular adapter.
/// </summary>
public static class KernelBenchmark
{
    public static IReadOnlyList<string> CaseNames { get; } = ["uniform-8", "uniform-128", "mixed", "decode-uniform-8", "decode-mixed"];

    public static KernelBenchReport Run(KernelBenchOptions o, IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(o);
        o.Validate();
        WarmUp(o);
        double bandwidth = MemoryBandwidth.MeasureReadGBs(o.BandwidthBytes, repeats: 5);
        progress?.Report($"read bandwidth {bandwidth:F1} GB/s");
        var cases = new List<KernelBenchCase>();
        foreach (var name in o.Cases ?? CaseNames)
        {
            var result = Measure(name, o);
            progress?.Report($"{name}: tokens {result.Tokens}, segmented {result.SegmentedMs:F3} ms, padded {result.PaddedMs:F3} ms, " +
                             $"loop {result.LoopMs:F3} ms, {result.SegmentedGflops:F1} GFLOP/s, flop ratio {result.FlopRatio:F2}");
            cases.Add(result);
        }
        return new KernelBenchReport(Math.Round(bandwidth, 2), cases) { Hidden = o.Hidden };
    }

    /// <summary>
    /// Runs every kernel on a small mixed batch enough times for the JIT to finish tiering up the code around
    /// the kernels; the bandwidth probe that follows gives the background compiler time to finish.
    /// </summary>
    static void WarmUp(KernelBenchOptions o)
    {
        var w = LoraWorkload.Create("warm-up", Math.Min(o.Hidden, 256), 64, 8, o.ZipfExponent, i => o.RankChoices[i % o.RankChoices.Count], o.Seed);
        var x = new float[w.Tokens * w.Hidden];
        var v = new float[w.Tokens * w.MaxRank];
        var y = new float[w.Tokens * w.Hidden];
        foreach (var kernel in new[] { MultiLoraKernels.Segmented, MultiLoraKernels.Padded, MultiLoraKernels.Loop })
            for (int i = 0; i < 50; i++) RunOnce(kernel, w, x, v, y, w.MaxRank);
    }

    /// <summary>Batch <paramref name="draw"/> of a case (uniform cases have one).</summary>
    internal static LoraWorkload Build(string name, KernelBenchOptions o, int draw = 0)
    {
        int seed = o.Seed + 1000 * draw;
        int[] mixedRanks = LoraWorkload.StratifiedRanks(o.Adapters, o.RankChoices, seed + 1);
        return name switch
        {
            "uniform-8" => LoraWorkload.Create(name, o.Hidden, o.Tokens, o.Adapters, o.ZipfExponent, _ => 8, seed),
            "uniform-128" => LoraWorkload.Create(name, o.Hidden, o.Tokens, o.Adapters, o.ZipfExponent, _ => 128, seed),
            "mixed" => LoraWorkload.Create(name, o.Hidden, o.Tokens, o.Adapters, o.ZipfExponent, i => mixedRanks[i], seed),
            "decode-uniform-8" => LoraWorkload.Create(name, o.Hidden, o.DecodeSequences, o.Adapters, o.ZipfExponent, _ => 8, seed + 2),
            "decode-mixed" => LoraWorkload.Create(name, o.Hidden, o.DecodeSequences, o.Adapters, o.ZipfExponent, i => mixedRanks[i], seed + 2),
            _ => throw new ArgumentException($"unknown kernel bench case '{name}'", nameof(name)),
        };
    }

    internal static int Draws(string name, KernelBenchOptions o) => name.EndsWith("mixed", StringComparison.Ordinal) ? o.RankDraws : 1;

    /// <summary>Per kernel: the mean over the case's batches of the median time of one batch.</summary>
    static KernelBenchCase Measure(string name, KernelBenchOptions o)
    {
        IMultiLoraKernel[] kernels = [MultiLoraKernels.Segmented, MultiLoraKernels.Padded, MultiLoraKernels.Loop];
        int draws = Draws(name, o), tokens = 0;
        var totalMs = new double[kernels.Length];
        double flops = 0, paddedFlops = 0, tokenRank = 0, paddedTokenRank = 0;
        var ranks = new SortedSet<int>();
        for (int draw = 0; draw < draws; draw++)
        {
            var w = Build(name, o, draw);   // one batch at a time keeps the (padded) weights of only one in memory
            var medians = MeasureBatch(w, kernels, o);
            for (int k = 0; k < kernels.Length; k++) totalMs[k] += medians[k];
            flops += w.Flops();
            paddedFlops += w.Flops(w.MaxRank);
            tokenRank += w.Segments.Sum(s => (double)s.Length * s.Module!.Rank);
            paddedTokenRank += (double)w.Tokens * w.MaxRank;
            ranks.UnionWith(w.SegmentRanks);
            tokens = w.Tokens;
        }
        return new KernelBenchCase(name, tokens, [.. ranks], Math.Round(totalMs[0] / draws, 4), Math.Round(totalMs[1] / draws, 4),
                                   Math.Round(totalMs[2] / draws, 4), Math.Round(flops / (totalMs[0] * 1e6), 2), Math.Round(paddedFlops / flops, 3))
        {
            TokenRank = Math.Round(tokenRank / draws, 2),
            PaddedTokenRank = Math.Round(paddedTokenRank / draws, 2),
        };
    }

    static double[] MeasureBatch(LoraWorkload w, IMultiLoraKernel[] kernels, KernelBenchOptions o)
    {
        int vStride = w.MaxRank;
        var x = new float[w.Tokens * w.Hidden];
        LoraWorkload.Fill(x, (ulong)o.Seed + 3, 1f);
        var v = new float[w.Tokens * vStride];
        var y = new float[w.Tokens * w.Hidden];
        CheckAgreement(w, kernels, x, v, y, vStride);

        // Each timed call directly follows an untimed call of the same kernel, so it sees the steady state of
        // back-to-back calls (pool threads awake) rather than the wake-up after the single-threaded loop kernel;
        // the kernel order rotates each round so none always runs right after another's cache footprint.
        var times = kernels.Select(_ => new List<double>()).ToArray();
        for (int run = 0; run < o.Warmup + o.Repeats; run++)
            for (int i = 0; i < kernels.Length; i++)
            {
                int k = (run + i) % kernels.Length;
                RunOnce(kernels[k], w, x, v, y, vStride);
                long start = Stopwatch.GetTimestamp();
                RunOnce(kernels[k], w, x, v, y, vStride);
                double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (run >= o.Warmup) times[k].Add(ms);
            }
        return times.Select(Median).ToArray();
    }

    static void RunOnce(IMultiLoraKernel kernel, LoraWorkload w, float[] x, float[] v, float[] y, int vStride)
    {
        kernel.Shrink(x, w.Hidden, w.Segments, v, vStride);
        kernel.Expand(v, vStride, w.Segments, y, w.Hidden);
    }

    /// <summary>A benchmark of kernels that disagree would be meaningless: compare their outputs once.</summary>
    static void CheckAgreement(LoraWorkload w, IMultiLoraKernel[] kernels, float[] x, float[] v, float[] y, int vStride)
    {
        float[]? reference = null;
        foreach (var kernel in kernels)
        {
            Array.Clear(y);
            RunOnce(kernel, w, x, v, y, vStride);
            if (reference is null) { reference = (float[])y.Clone(); continue; }
            double scale = 1e-30, error = 0;
            for (int i = 0; i < y.Length; i++)
            {
                scale = Math.Max(scale, Math.Abs(reference[i]));
                error = Math.Max(error, Math.Abs(reference[i] - y[i]));
            }
            if (error > 1e-4 * scale)
                throw new InvalidOperationException($"{w.Name}: kernel '{kernel.Name}' differs from '{kernels[0].Name}' by {error:G3} (max |y| {scale:G3})");
        }
        Array.Clear(y);
    }

    static double Median(List<double> values)
    {
        values.Sort();
        int n = values.Count;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }
}
