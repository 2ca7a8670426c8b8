namespace LoRAQueue.Core.Residency;

/// <summary>
/// Hands out ranges of one fixed arena (offsets only; the owner holds the memory): first fit, with freed neighbours merged
/// back. The host cache registers its arena with UCX once, so a peer reads any adapter in it with the same remote key.
/// Not thread-safe: the owner serialises calls.
/// </summary>
public sealed class ArenaAllocator
{
    private readonly SortedList<long, long> _free = []; // offset → length, no two adjacent
    private readonly Dictionary<long, long> _used = [];  // offset → length

    public ArenaAllocator(long capacity, long alignment = 64)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(alignment), "a power of two");
        Capacity = capacity;
        Alignment = alignment;
        _free.Add(0, capacity);
    }

    public long Capacity { get; }
    public long Alignment { get; }
    public long UsedBytes { get; private set; }

    /// <summary>The largest range one allocation can get now.</summary>
    public long LargestFree => _free.Count == 0 ? 0 : _free.Values.Max();

    /// <summary>The offset of a new range of <paramref name="length"/> bytes (rounded up to the alignment), or false when no free
    /// range is long enough.</summary>
    public bool TryAllocate(long length, out long offset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        long size = Math.Max(Alignment, (length + Alignment - 1) & ~(Alignment - 1));
        for (int i = 0; i < _free.Count; i++)
        {
            long start = _free.Keys[i], free = _free.Values[i];
            if (free < size) continue;
            _free.RemoveAt(i);
            if (free > size) _free.Add(start + size, free - size);
            _used[start] = size;
            UsedBytes += size;
            offset = start;
            return true;
        }
        offset = -1;
        return false;
    }

    /// <summary>Returns the range at <paramref name="offset"/>, merging it with free neighbours.</summary>
    public void Free(long offset)
    {
        if (!_used.Remove(offset, out long size)) throw new InvalidOperationException($"no range is allocated at offset {offset}");
        UsedBytes -= size;
        long start = offset, length = size;
        int next = FirstAfter(offset);
        if (next < _free.Count && _free.Keys[next] == offset + size)
        {
            length += _free.Values[next];
            _free.RemoveAt(next);
        }
        int previous = next - 1; // the free range before offset, if any
        if (previous >= 0 && _free.Keys[previous] + _free.Values[previous] == offset)
        {
            start = _free.Keys[previous];
            length += _free.Values[previous];
            _free.RemoveAt(previous);
        }
        _free.Add(start, length);
    }

    /// <summary>Index of the first free range after <paramref name="offset"/> (binary search; Count when none).</summary>
    private int FirstAfter(long offset)
    {
        int low = 0, high = _free.Count;
        while (low < high)
        {
            int middle = (low + high) / 2;
            if (_free.Keys[middle] > offset) high = middle; else low = middle + 1;
        }
        return low;
    }
}
