using LoRAQueue.Core.Residency;
using LoRAQueue.Formats;
using LoRAQueue.Ucx;

namespace LoRAQueue.Worker.DataPlane;

/// <summary>An adapter's bytes in the host cache: its range of the arena, laid out as <see cref="AdapterImage"/> says.</summary>
public sealed record HostSlot(string Digest, long Offset, long Size, IReadOnlyList<AdapterFile> Files);

/// <summary>
/// The worker's host-cache tier: one native arena (registered once with UCX by the <see cref="IAdapterExchange"/>, so peers
/// read any adapter in it with one remote key), holding adapters by content digest under a byte budget with LRU
/// eviction. A slot being filled or read is pinned, and so is every digest the current placement needs: neither is ever
/// evicted. Only slots whose bytes were verified are <see cref="TryTake">served</see> (and advertised).
/// </summary>
public sealed class HostCache : IDisposable
{
    private readonly Lock _lock = new();
    private readonly NativeBuffer _arena;
    private readonly ArenaAllocator _ranges;
    private readonly ResidencyBudget<string> _budget;
    private readonly Dictionary<string, HostSlot> _slots = new(StringComparer.Ordinal);
    private readonly HashSet<string> _verified = new(StringComparer.Ordinal);

    public HostCache(long capacityBytes)
    {
        _arena = new NativeBuffer(capacityBytes);
        _ranges = new ArenaAllocator(capacityBytes);
        _budget = new ResidencyBudget<string>(capacityBytes);
    }

    public nint Address => _arena.Address;
    public long Capacity => _arena.Length;

    /// <summary>Raised (outside the lock) for each verified slot evicted: the exchange withdraws it from the directory.</summary>
    public event Action<HostSlot>? Evicted;

    public long UsedBytes { get { lock (_lock) return _budget.UsedBytes; } }

    /// <summary>Verified digests held, most recently used first.</summary>
    public IReadOnlyList<string> Digests { get { lock (_lock) return [.. _budget.Keys.Where(_verified.Contains)]; } }

    /// <summary>A verified slot for <paramref name="digest"/>, pinned until <paramref name="pin"/> is disposed.</summary>
    public bool TryTake(string digest, out HostSlot slot, out IDisposable pin)
    {
        lock (_lock)
        {
            if (_verified.Contains(digest) && _slots.TryGetValue(digest, out slot!))
            {
                pin = _budget.Pin(digest);
                return true;
            }
        }
        (slot, pin) = (null!, null!);
        return false;
    }

    /// <summary>A new slot of <paramref name="size"/> bytes for <paramref name="digest"/> to be filled, pinned until
    /// <paramref name="pin"/> is disposed; null when it cannot fit without evicting pinned or needed adapters.</summary>
    public HostSlot? Reserve(string digest, long size, IReadOnlyList<AdapterFile> files, out IDisposable? pin)
    {
        pin = null;
        var dropped = new List<HostSlot>();
        HostSlot? reserved = null;
        lock (_lock)
        {
            if (_slots.ContainsKey(digest)) return null; // being filled by another pull (they share one) or held already
            if (_budget.TryAdmit(digest, size, out var evicted))
            {
                foreach (var key in evicted) dropped.Add(Free(key));
                long offset;
                while (!_ranges.TryAllocate(size, out offset))
                {
                    // The bytes fit but not in one range: evict more, least recently used first.
                    if (!_budget.TryEvictOne(out var more) || more == digest) // nothing else can go (digest itself is removed below)
                    {
                        offset = -1;
                        break;
                    }
                    dropped.Add(Free(more!));
                }
                if (offset >= 0)
                {
                    reserved = new HostSlot(digest, offset, size, AdapterImage.Layout(files));
                    _slots[digest] = reserved;
                    pin = _budget.Pin(digest);
                }
                else
                {
                    _budget.Remove(digest);
                }
            }
        }
        foreach (var slot in dropped.Where(s => s.Digest != ""))
            Evicted?.Invoke(slot);
        return reserved;
    }

    /// <summary>The slot's bytes were checked against its digest: serve them from now on.</summary>
    public void MarkVerified(HostSlot slot)
    {
        lock (_lock)
            if (_slots.TryGetValue(slot.Digest, out var current) && current == slot) _verified.Add(slot.Digest);
    }

    /// <summary>Drops a slot whose fill failed; <paramref name="abandoned"/>: a source may still write into it, so its range is
    /// never handed out again (a small leak, in exchange for never serving bytes a late write changed).</summary>
    public void Discard(HostSlot slot, bool abandoned = false)
    {
        bool wasVerified;
        lock (_lock)
        {
            if (!_slots.TryGetValue(slot.Digest, out var current) || current != slot) return;
            wasVerified = _verified.Contains(slot.Digest);
            _budget.Remove(slot.Digest);
            _slots.Remove(slot.Digest);
            _verified.Remove(slot.Digest);
            if (!abandoned) _ranges.Free(slot.Offset);
        }
        if (wasVerified) Evicted?.Invoke(slot);
    }

    /// <summary>The digests the current placement needs here: never evicted while in the set.</summary>
    public void SetNeeded(IEnumerable<string> digests)
    {
        lock (_lock) _budget.SetNeeded(digests);
    }

    public Memory<byte> Memory(HostSlot slot) => _arena.Memory.Slice(checked((int)slot.Offset), checked((int)slot.Size));

    public unsafe AdapterImage Image(HostSlot slot, string name) => new(name, (byte*)_arena.Address + slot.Offset, slot.Files);

    private HostSlot Free(string digest)
    {
        var slot = _slots[digest];
        _slots.Remove(digest);
        _ranges.Free(slot.Offset);
        return _verified.Remove(digest) ? slot : slot with { Digest = "" }; // unverified slots were never advertised
    }

    public void Dispose() => ((IDisposable)_arena).Dispose();
}
