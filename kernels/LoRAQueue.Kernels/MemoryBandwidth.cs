using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LoRAQueue.Kernels;

/// <summary>Read-bandwidth probe: the bound that decode (weights streamed once per step) is measured against.</summary>
public static unsafe class MemoryBandwidth
{
    static long s_sink;   // keeps the sums observable so the reads are not optimised away

    /// <summary>
    /// Streams a buffer of <paramref name="bytes"/> with SIMD sums on every pool thread (one contiguous
    /// chunk each) and returns the best of <paramref name="repeats"/> passes in GB/s (1e9 bytes/s).
    /// </summary>
    public static double MeasureReadGBs(long bytes = 512L << 20, int repeats = 5)
        => MeasureReadGBs(bytes, repeats, WorkerPool.Shared);

    /// <summary>As above on a given pool (e.g. a one-thread pool for the single-core figure).</summary>
    public static double MeasureReadGBs(long bytes, int repeats, WorkerPool pool)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 4096L);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(repeats);
        bytes &= ~4095L;
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
        try
        {
            NativeMemory.Fill(buffer, (nuint)bytes, 1);   // fault every page in before timing
            int chunks = pool.ThreadCount;
            long* sums = stackalloc long[chunks];
            var context = new ReadContext { Buffer = buffer, ChunkBytes = (bytes / chunks) & ~255L, Sums = sums };
            double best = double.MaxValue;
            for (int r = 0; r < repeats; r++)
            {
                long start = Stopwatch.GetTimestamp();
                pool.Run(chunks, &ReadChunk, &context);
                best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
            for (int i = 0; i < chunks; i++) s_sink += sums[i];
            return context.ChunkBytes * chunks / best / 1e9;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    struct ReadContext
    {
        public byte* Buffer;
        public long ChunkBytes;
        public long* Sums;
    }

    /// <summary>Sums one chunk as four interleaved sequential streams (more misses in flight than one stream).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void ReadChunk(void* context, int chunk)
    {
        ref ReadContext c = ref *(ReadContext*)context;
        ulong* p = (ulong*)(c.Buffer + chunk * c.ChunkBytes);
        long quarter = c.ChunkBytes / sizeof(ulong) / 4;
        ulong* p1 = p + quarter, p2 = p1 + quarter, p3 = p2 + quarter;
        long sum = 0, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<ulong> a = default, b = default, d = default, e = default;
            for (; i + 8 <= quarter; i += 8)
            {
                a += Vector512.Load(p + i); b += Vector512.Load(p1 + i);
                d += Vector512.Load(p2 + i); e += Vector512.Load(p3 + i);
            }
            sum = (long)Vector512.Sum(a + b + d + e);
        }
        else
        {
            Vector256<ulong> a = default, b = default, d = default, e = default;
            for (; i + 4 <= quarter; i += 4)
            {
                a += Vector256.Load(p + i); b += Vector256.Load(p1 + i);
                d += Vector256.Load(p2 + i); e += Vector256.Load(p3 + i);
            }
            sum = (long)Vector256.Sum(a + b + d + e);
        }
        for (; i < quarter; i++) sum += (long)(p[i] + p1[i] + p2[i] + p3[i]);
        c.Sums[chunk] = sum;
    }
}
