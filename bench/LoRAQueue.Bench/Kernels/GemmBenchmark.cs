using System.Diagnostics;
using System.Runtime.InteropServices;
using LoRAQueue.Kernels;

namespace LoRAQueue.Bench;

/// <summary>Median time of one <see cref="Gemm.MatMulTransposed"/> call, as weight GB/s (decode) and GFLOP/s (prefill).</summary>
public sealed record GemmBenchResult(int Rows, int Cols, int Tokens, WeightType Type, double Ms, double WeightGBs, double Gflops);

public static unsafe class GemmBenchmark
{
    /// <summary>Times x·Wᵀ for a random [rows, cols] matrix of the given type and <paramref name="tokens"/> tokens.</summary>
    public static GemmBenchResult Run(int rows, int cols, int tokens, WeightType type, int warmup = 2, int repeats = 7)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(repeats);
        long elements = (long)rows * cols;
        long bytes = elements * (type == WeightType.F32 ? 4 : 2);
        void* data = NativeMemory.AlignedAlloc((nuint)bytes, 4096);
        try
        {
            FillWeights(data, elements, type);
            var w = new WeightMatrix(data, type, rows, cols);
            var x = new float[(long)tokens * cols];
            LoraWorkload.Fill(x, 11, 1f);
            var y = new float[(long)tokens * rows];
            var times = new double[repeats];
            for (int run = 0; run < warmup + repeats; run++)
            {
                long start = Stopwatch.GetTimestamp();
                Gemm.MatMulTransposed(x, tokens, w, y);
                if (run >= warmup) times[run - warmup] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
            Array.Sort(times);
            double ms = times[repeats / 2];
            return new GemmBenchResult(rows, cols, tokens, type, ms, bytes / (ms * 1e6), 2.0 * elements * tokens / (ms * 1e6));
        }
        finally
        {
            NativeMemory.AlignedFree(data);
        }
    }

    static void FillWeights(void* data, long elements, WeightType type)
    {
        const int Chunk = 1 << 16;
        var values = new float[Chunk];
        for (long i = 0; i < elements; i += Chunk)
        {
            int n = (int)Math.Min(Chunk, elements - i);
            LoraWorkload.Fill(values.AsSpan(0, n), (ulong)i + 1, 0.05f);
            if (type == WeightType.F32) values.AsSpan(0, n).CopyTo(new Span<float>((float*)data + i, n));
            else for (int j = 0; j < n; j++) ((ushort*)data)[i + j] = Bf16.FromFloat(values[j]);
        }
    }
}
