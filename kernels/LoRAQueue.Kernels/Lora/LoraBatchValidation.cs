using System.Buffers;

namespace LoRAQueue.Kernels;

/// <summary>Argument checks shared by every multi-LoRA kernel: O(segments), done before any pointer is used.</summary>
internal static class LoraBatchValidation
{
    /// <summary>Checks a shrink call; returns the largest rank among non-empty adapter segments (0 if none).</summary>
    public static int CheckShrink(int xLength, int inDim, ReadOnlySpan<LoraSegment> segments, int vLength, int vStride)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vStride);
        int maxRank = 0;
        foreach (var s in segments)
        {
            CheckRange(s, xLength, inDim, "x", vLength, vStride, "v");
            if (s.Module is null || s.Length == 0) continue;
            if (s.Module.In != inDim)
                throw new ArgumentException($"segment at token {s.Start}: adapter module has in = {s.Module.In}, batch has {inDim}", nameof(segments));
            maxRank = Math.Max(maxRank, s.Module.Rank);
        }
        CheckRankFits(maxRank, vStride);
        CheckNoOverlap(segments);
        return maxRank;
    }

    /// <summary>Checks an expand call; returns the largest rank among non-empty adapter segments (0 if none).</summary>
    public static int CheckExpand(int vLength, int vStride, ReadOnlySpan<LoraSegment> segments, int yLength, int outDim)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vStride);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outDim);
        int maxRank = 0;
        foreach (var s in segments)
        {
            CheckRange(s, vLength, vStride, "v", yLength, outDim, "y");
            if (s.Module is null || s.Length == 0) continue;
            if (s.Module.Out != outDim)
                throw new ArgumentException($"segment at token {s.Start}: adapter module has out = {s.Module.Out}, batch has {outDim}", nameof(segments));
            maxRank = Math.Max(maxRank, s.Module.Rank);
        }
        CheckRankFits(maxRank, vStride);
        CheckNoOverlap(segments);
        return maxRank;
    }

    static void CheckRange(LoraSegment s, int inLength, int inStride, string inName, int outLength, int outStride, string outName)
    {
        if (s.Start < 0 || s.Length < 0)
            throw new ArgumentException($"segment ({s.Start}, {s.Length}) has a negative start or length", "segments");
        long end = (long)s.Start + s.Length;
        if (s.Module is null || s.Length == 0) return;
        if (end * inStride > inLength)
            throw new ArgumentException($"segment ends at token {end} but {inName} holds {inLength / inStride} rows of {inStride}", inName);
        if (end * outStride > outLength)
            throw new ArgumentException($"segment ends at token {end} but {outName} holds {outLength / outStride} rows of {outStride}", outName);
    }

    static void CheckRankFits(int maxRank, int vStride)
    {
        if (maxRank > vStride)
            throw new ArgumentException($"vStride {vStride} is smaller than the batch's largest rank {maxRank}", nameof(vStride));
    }

    /// <summary>Adapter segments must not share tokens: units of different segments run concurrently.</summary>
    static void CheckNoOverlap(ReadOnlySpan<LoraSegment> segments)
    {
        long previousEnd = 0;
        bool ordered = true;
        foreach (var s in segments)
        {
            if (s.Module is null || s.Length == 0) continue;
            if (s.Start < previousEnd) { ordered = false; break; }
            previousEnd = (long)s.Start + s.Length;
        }
        if (ordered) return;
        var starts = ArrayPool<(int Start, int End)>.Shared.Rent(segments.Length);
        try
        {
            int n = 0;
            foreach (var s in segments)
                if (s.Module is not null && s.Length > 0) starts[n++] = (s.Start, s.Start + s.Length);
            var span = starts.AsSpan(0, n);
            span.Sort();
            for (int i = 1; i < n; i++)
                if (span[i].Start < span[i - 1].End)
                    throw new ArgumentException($"segments overlap at token {span[i].Start}", nameof(segments));
        }
        finally
        {
            ArrayPool<(int, int)>.Shared.Return(starts);
        }
    }
}
