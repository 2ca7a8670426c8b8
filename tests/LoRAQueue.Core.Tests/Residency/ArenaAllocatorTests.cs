using LoRAQueue.Core.Residency;

namespace LoRAQueue.Core.Tests.Residency;

public sealed class ArenaAllocatorTests
{
    [Fact]
    public void Ranges_are_aligned_and_never_overlap()
    {
        var arena = new ArenaAllocator(1024, alignment: 64);

        Assert.True(arena.TryAllocate(10, out long a));
        Assert.True(arena.TryAllocate(100, out long b));
        Assert.True(arena.TryAllocate(64, out long c));

        Assert.Equal([0L, 64L, 192L], [a, b, c]);
        Assert.Equal(256, arena.UsedBytes);
    }

    [Fact]
    public void Freed_neighbours_merge_so_a_large_range_fits_again()
    {
        var arena = new ArenaAllocator(384, alignment: 128);
        Assert.True(arena.TryAllocate(100, out long a));
        Assert.True(arena.TryAllocate(128, out long b));
        Assert.True(arena.TryAllocate(120, out long c));
        Assert.False(arena.TryAllocate(1, out _));

        arena.Free(a);
        arena.Free(c);
        Assert.False(arena.TryAllocate(256, out _)); // 256 free, but in two pieces
        arena.Free(b);

        Assert.Equal(384, arena.LargestFree);
        Assert.True(arena.TryAllocate(384, out long whole));
        Assert.Equal(0, whole);
    }

    [Fact]
    public void Freeing_a_range_that_is_not_allocated_is_an_error()
    {
        var arena = new ArenaAllocator(1024);
        Assert.Throws<InvalidOperationException>(() => arena.Free(64));
    }
}
