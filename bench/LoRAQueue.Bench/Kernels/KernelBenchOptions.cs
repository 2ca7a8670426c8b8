using LoRAQueue.Kernels;

namespace LoRAQueue.Bench;

/// <summary>Settings of <see cref="KernelBenchmark"/>; the defaults are the realistic shapes the report states.</summary>
public sealed class KernelBenchOptions
{
    /// <summary>Module in = out dimension (4096: q_proj of a 7B-class model).</summary>
    public int Hidden { get; init; } = 4096;
    /// <summary>Tokens in one prefill-style batch.</summary>
    public int Tokens { get; init; } = 256;
    /// <summary>Sequences (one token each) in the decode-style cases.</summary>
    public int DecodeSequences { get; init; } = 32;
    /// <summary>Adapters the batch's tokens are spread over.</summary>
    public int Adapters { get; init; } = 32;
    /// <summary>Zipf exponent of adapter popularity (field traces: about 1 to 1.8).</summary>
    public double ZipfExponent { get; init; } = 1.1;
    /// <summary>Ranks the mixed cases draw each adapter's rank from.</summary>
    public IReadOnlyList<int> RankChoices { get; init; } = [8, 16, 32, 64, 128];
    /// <summary>Independent batches (token assignment and rank draw) the mixed cases average over.</summary>
    public int RankDraws { get; init; } = 4;
    public int Warmup { get; init; } = 2;
    public int Repeats { get; init; } = 9;
    /// <summary>Buffer size of the read-bandwidth probe run first.</summary>
    public long BandwidthBytes { get; init; } = 512L << 20;
    public int Seed { get; init; } = 42;
    /// <summary>Case names to run (null: all of <see cref="KernelBenchmark.CaseNames"/>).</summary>
    public IReadOnlyList<string>? Cases { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Hidden, nameof(Hidden));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Tokens, nameof(Tokens));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(DecodeSequences, nameof(DecodeSequences));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Adapters, nameof(Adapters));
        ArgumentOutOfRangeException.ThrowIfNegative(ZipfExponent, nameof(ZipfExponent));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(RankDraws, nameof(RankDraws));
        ArgumentOutOfRangeException.ThrowIfNegative(Warmup, nameof(Warmup));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Repeats, nameof(Repeats));
        if (RankChoices is null || RankChoices.Count == 0 || RankChoices.Any(r => r <= 0))
            throw new ArgumentException("RankChoices must hold at least one positive rank", nameof(RankChoices));
        foreach (var name in Cases ?? [])
            if (!KernelBenchmark.CaseNames.Contains(name))
                throw new ArgumentException($"unknown kernel bench case '{name}'; known: {string.Join(", ", KernelBenchmark.CaseNames)}", nameof(Cases));
    }
}
