using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LoRAQueue.Kernels;

namespace LoRAQueue.Bench;

/// <summary>Read-bandwidth probe: the bound that decode (weights streamed once per step) is measured against.</summary>
public static class MemoryBandwidth
{
    /// <summary>
    /// Streams a buffer of <paramref name="bytes"/> on every pool thread and returns the best of
    /// <paramref name="repeats"/> passes in GB/s (1e9 bytes/s). See <see cref="ReadBandwidthProbe"/>.
    /// </summary>
    public static double MeasureReadGBs(long bytes = 512L << 20, int repeats = 5)
        => MeasureReadGBs(bytes, repeats, WorkerPool.Shared);

    /// <summary>As above on a given pool (e.g. a one-thread pool for the single-core figure).</summary>
    public static double MeasureReadGBs(long bytes, int repeats, WorkerPool pool)
    {
        using var probe = new ReadBandwidthProbe(bytes, pool);
        return probe.MeasureGBs(repeats);
    }
}

/// <summary>
/// A buffer kept for repeated read-bandwidth passes (e.g. interleaved with benchmark steps, so the bound is
/// measured under the same machine conditions as the work). A pass splits the buffer into several chunks per
/// thread, claimed dynamically so a briefly descheduled thread does not stall the pass, and reads each chunk as
/// four interleaved sequential streams: on the 2-core Zen 4 that draws ~30% more than one stream per thread, and
/// no software prefetch or GEMV read pattern tried beat it, so decode cannot honestly exceed this bound.
/// </summary>
public sealed unsafe class ReadBandwidthProbe : IDisposable
{
    private const int ChunksPerThread = 8;
    private static long s_sink;   // keeps the sums observable so the reads are not optimised away

    private readonly WorkerPool _pool;
    private byte* _buffer;
    private readonly long _chunkBytes;
    private readonly int _chunks;
    private readonly long[] _sums;
    private bool _warm;

    public ReadBandwidthProbe(long bytes = 512L << 20, WorkerPool? pool = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 4096L);
        _pool = pool ?? WorkerPool.Shared;
        _chunks = _pool.ThreadCount * ChunksPerThread;
        _chunkBytes = Math.Max(256, (bytes / _chunks) & ~255L);
        _sums = new long[_chunks];
        nuint size = (nuint)(_chunkBytes * _chunks);
        _buffer = (byte*)NativeMemory.AlignedAlloc(size, 4096);
        NativeMemory.Fill(_buffer, size, 1);   // fault every page in before timing
    }

    /// <summary>Bytes read by one pass.</summary>
    public long Bytes => _chunkBytes * _chunks;

    /// <summary>Best of <paramref name="repeats"/> timed passes in GB/s (1e9 bytes/s); the first call also
    /// runs one untimed pass (TLB and page-table warm-up).</summary>
    public double MeasureGBs(int repeats = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(repeats);
        ObjectDisposedException.ThrowIf(_buffer == null, this);
        var context = new ReadContext { Buffer = _buffer, ChunkBytes = _chunkBytes };
        fixed (long* sums = _sums)
        {
            context.Sums = sums;
            if (!_warm) { _pool.Run(_chunks, &ReadChunk, &context); _warm = true; }
            double best = double.MaxValue;
            for (int r = 0; r < repeats; r++)
            {
                long start = Stopwatch.GetTimestamp();
                _pool.Run(_chunks, &ReadChunk, &context);
                best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
            for (int i = 0; i < _chunks; i++) s_sink += sums[i];
            return Bytes / best / 1e9;
        }
    }

    public void Dispose()
    {
        if (_buffer == null) return;
        NativeMemory.AlignedFree(_buffer);
        _buffer = null;
    }

    private struct ReadContext
    {
        public byte* Buffer;
        public long ChunkBytes;
        public long* Sums;
    }

    /// <summary>Sums one chunk as four interleaved sequential streams (more misses in flight than one stream).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ReadChunk(void* context, int chunk)
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
