using BenchmarkDotNet.Attributes;
using LoRAQueue.Kernels;

namespace LoRAQueue.Bench.Micro;

/// <summary>
/// Shrink + expand of one 4096×4096 module for a decode-size batch (32 tokens, one per sequence) over 32 Zipf-popular
/// adapters: the batch the engine runs every decode step. Mixed ranks {8…128} are where padding to the largest rank
/// costs (padded ÷ segmented ≈ the flop ratio); uniform rank 8 is the control, where the two should tie. The batch is
/// built as `bench kernels` builds its decode cases (<see cref="LoraWorkload"/>).
/// </summary>
[MemoryDiagnoser]
public class LoraKernelBenchmarks
{
    private const int Hidden = 4096, Tokens = 32, Adapters = 32;
    private LoraWorkload _batch = null!;
    private float[] _x = null!, _v = null!, _y = null!;

    [Params("decode-mixed", "decode-uniform-8")]
    public string Case { get; set; } = "decode-mixed";

    [GlobalSetup]
    public void Setup()
    {
        int[] mixed = LoraWorkload.StratifiedRanks(Adapters, [8, 16, 32, 64, 128], seed: 43);
        _batch = LoraWorkload.Create(Case, Hidden, Tokens, Adapters, zipf: 1.1, i => Case == "decode-mixed" ? mixed[i] : 8, seed: 44);
        _x = new float[Tokens * Hidden];
        LoraWorkload.Fill(_x, 45, 1f);
        _v = new float[Tokens * _batch.MaxRank];
        _y = new float[Tokens * Hidden];
    }

    [Benchmark(Baseline = true)]
    public void Segmented() => Run(MultiLoraKernels.Segmented);

    [Benchmark]
    public void Padded() => Run(MultiLoraKernels.Padded);

    private void Run(IMultiLoraKernel kernel)
    {
        kernel.Shrink(_x, Hidden, _batch.Segments, _v, _batch.MaxRank);
        kernel.Expand(_v, _batch.MaxRank, _batch.Segments, _y, Hidden);
    }
}
