using LoRAQueue.Formats;
using LoRAQueue.Worker.DataPlane;

namespace LoRAQueue.Worker.Tests.DataPlane;

public sealed class HostCacheTests
{
    private const long Mb = 1 << 20;
    private static readonly AdapterFile[] Files = [new("adapter_model.safetensors", Mb, "00")];

    private static HostSlot Fill(HostCache cache, string digest, long size = Mb)
    {
        var slot = cache.Reserve(digest, size, Files, out var pin) ?? throw new InvalidOperationException($"{digest} did not fit");
        cache.Memory(slot).Span.Fill((byte)digest[0]);
        cache.MarkVerified(slot);
        pin!.Dispose();
        return slot;
    }

    [Fact]
    public void Only_verified_slots_are_served_and_each_keeps_its_bytes()
    {
        using var cache = new HostCache(4 * Mb);
        var filling = cache.Reserve("a", Mb, Files, out var pin)!;
        Assert.False(cache.TryTake("a", out _, out _)); // not verified yet: never served
        cache.Memory(filling).Span.Fill(1);
        cache.MarkVerified(filling);
        pin!.Dispose();
        Fill(cache, "b");

        Assert.True(cache.TryTake("a", out var a, out var aPin));
        using (aPin) Assert.All(cache.Memory(a).ToArray(), b => Assert.Equal(1, b));
        Assert.Equal(["a", "b"], cache.Digests.Order());
    }

    [Fact]
    public void The_least_recently_used_is_evicted_and_withdrawn_but_never_a_pinned_or_needed_one()
    {
        using var cache = new HostCache(3 * Mb);
        var evicted = new List<string>();
        cache.Evicted += slot => evicted.Add(slot.Digest);
        Fill(cache, "a");
        Fill(cache, "b");
        Fill(cache, "c");
        Assert.True(cache.TryTake("a", out _, out var pinA)); // pinned, and now the most recently used
        cache.SetNeeded(["b"]);

        Fill(cache, "d");

        Assert.Equal(["c"], evicted); // a is pinned, b is needed: c goes though it is more recent than b
        Assert.Equal(["a", "b", "d"], cache.Digests.Order());
        pinA.Dispose();
    }

    [Fact]
    public void What_cannot_fit_without_evicting_pinned_or_needed_adapters_is_refused_and_nothing_is_evicted()
    {
        using var cache = new HostCache(2 * Mb);
        var evicted = new List<string>();
        cache.Evicted += slot => evicted.Add(slot.Digest);
        Fill(cache, "a");
        Fill(cache, "b");
        cache.SetNeeded(["a", "b"]);

        Assert.Null(cache.Reserve("c", Mb, Files, out var pin));
        Assert.Null(pin);
        Assert.Empty(evicted);
        Assert.Equal(["a", "b"], cache.Digests.Order());
    }

    [Fact]
    public void A_large_adapter_evicts_more_when_the_free_bytes_are_in_pieces()
    {
        using var cache = new HostCache(4 * Mb);
        Fill(cache, "a");
        Fill(cache, "b");
        Fill(cache, "c");
        Fill(cache, "d");
        Assert.True(cache.TryTake("a", out _, out var touchA)); // a, c, d used after b
        touchA.Dispose();
        Assert.True(cache.TryTake("c", out _, out var touchC));
        touchC.Dispose();

        // The budget frees b and d (least recently used), 2 MB but not side by side; a goes too to make one range.
        var big = cache.Reserve("big", 2 * Mb, Files, out var pin);

        Assert.NotNull(big);
        pin!.Dispose();
        Assert.Equal(["c"], cache.Digests); // big is not listed until verified
    }

    [Fact]
    public void A_discarded_fill_frees_its_range_unless_a_source_may_still_write_into_it()
    {
        using var cache = new HostCache(2 * Mb);
        var first = cache.Reserve("a", 2 * Mb, Files, out var pin)!;
        pin!.Dispose();
        cache.Discard(first);
        var second = cache.Reserve("b", 2 * Mb, Files, out pin)!;
        pin!.Dispose();
        Assert.Equal(first.Offset, second.Offset);

        cache.Discard(second, abandoned: true);
        Assert.Null(cache.Reserve("c", 2 * Mb, Files, out _)); // the abandoned range is never handed out again
    }
}
