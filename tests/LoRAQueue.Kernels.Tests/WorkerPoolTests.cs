using LoRAQueue.Kernels;

namespace LoRAQueue.Kernels.Tests;

public class WorkerPoolTests
{
    ref struct CountingBody : IParallelBody
    {
        public Span<int> Hits;
        public void Execute(int index) => Interlocked.Increment(ref Hits[index]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void Every_index_runs_exactly_once_across_many_calls(int threads)
    {
        using var pool = new WorkerPool(threads);
        Assert.Equal(threads, pool.ThreadCount);
        var hits = new int[1000];
        for (int call = 0; call < 300; call++)
        {
            int count = call % 37 + 1;
            Array.Clear(hits);
            var body = new CountingBody { Hits = hits };
            pool.Run(count, ref body);
            for (int i = 0; i < hits.Length; i++) Assert.Equal(i < count ? 1 : 0, hits[i]);
        }
    }

    ref struct ThrowingBody : IParallelBody
    {
        public void Execute(int index) { if (index == 3) throw new InvalidOperationException("boom at 3"); }
    }

    [Fact]
    public void The_first_exception_reaches_the_caller_and_the_pool_keeps_working()
    {
        using var pool = new WorkerPool(3);
        var ex = Assert.Throws<InvalidOperationException>(() =>
        {
            var body = new ThrowingBody();
            pool.Run(8, ref body);
        });
        Assert.Equal("boom at 3", ex.Message);
        var hits = new int[8];
        var counting = new CountingBody { Hits = hits };
        pool.Run(8, ref counting);
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    sealed class NestedState { public WorkerPool Pool = null!; public int[] Inner = new int[16]; }

    struct NestedBody : IParallelBody
    {
        public NestedState State;
        public void Execute(int index)
        {
            var inner = new CountingBody { Hits = State.Inner.AsSpan(index * 4, 4) };
            State.Pool.Run(4, ref inner);   // nested: runs inline on whichever thread got index
        }
    }

    [Fact]
    public void Nested_and_concurrent_calls_complete()
    {
        using var pool = new WorkerPool(2);
        var state = new NestedState { Pool = pool };
        var nested = new NestedBody { State = state };
        pool.Run(4, ref nested);
        Assert.All(state.Inner, h => Assert.Equal(1, h));

        var results = new int[4][];
        Parallel.For(0, 4, caller =>
        {
            var hits = new int[64];
            for (int call = 0; call < 50; call++)
            {
                var body = new CountingBody { Hits = hits };
                pool.Run(64, ref body);
            }
            results[caller] = hits;
        });
        Assert.All(results, hits => Assert.All(hits, h => Assert.Equal(50, h)));
    }
}
