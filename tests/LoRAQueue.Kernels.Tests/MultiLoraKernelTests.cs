using LoRAQueue.Kernels;

namespace LoRAQueue.Kernels.Tests;

public class MultiLoraKernelTests
{
    /// <summary>Every kernel at every SIMD width the machine runs, plus a pool with more threads than cores.</summary>
    static IEnumerable<IMultiLoraKernel> AllKernels()
    {
        yield return MultiLoraKernels.Segmented;
        yield return MultiLoraKernels.Padded;
        yield return MultiLoraKernels.Loop;
        foreach (var width in GemmTests.SupportedWidths())
        {
            yield return new SegmentedLoraKernel(width, WorkerPool.Shared);
            yield return new PaddedLoraKernel(width, WorkerPool.Shared);
            yield return new LoopLoraKernel(width);
        }
        yield return new SegmentedLoraKernel(Simd.Best, s_wide);
        yield return new PaddedLoraKernel(Simd.Best, s_wide);
    }

    static readonly WorkerPool s_wide = new(4);

    /// <summary>Runs shrink + expand with each kernel on a fresh copy of y0 and checks it against the reference.</summary>
    static void CheckAll(float[] x, int inDim, LoraSegment[] segments, float[] y0, int outDim, int vStride, int tokens)
    {
        var expected = Reference.Lora(x, inDim, segments, y0, outDim);
        foreach (var kernel in AllKernels())
        {
            var v = new float[tokens * vStride];
            var y = (float[])y0.Clone();
            kernel.Shrink(x, inDim, segments, v, vStride);
            kernel.Expand(v, vStride, segments, y, outDim);
            Reference.AssertClose(expected, y, kernel.Name);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Random_segments_with_mixed_ranks_match_the_reference(int seed)
    {
        var random = new Random(seed);
        const int inDim = 200, outDim = 131;
        int[] ranks = [8, 16, 5, 32, 64, 3, 128, 1];
        var modules = ranks.Select(r => Reference.RandomModule(random, r, inDim, outDim)).ToArray();
        var segments = new List<LoraSegment>();
        int start = 0;
        for (int s = 0; s < 14; s++)
        {
            int length = random.Next(0, 40);
            var module = random.Next(5) == 0 ? null : modules[random.Next(modules.Length)];
            segments.Add(new LoraSegment(start, length, module));
            start += length;
        }
        var x = Reference.RandomArray(random, start * inDim);
        var y0 = Reference.RandomArray(random, start * outDim);
        CheckAll(x, inDim, [.. segments], y0, outDim, vStride: 130, start);
    }

    [Fact]
    public void Single_token_and_odd_sizes()
    {
        var random = new Random(9);
        const int inDim = 17, outDim = 23;
        var module = Reference.RandomModule(random, 7, inDim, outDim);
        var x = Reference.RandomArray(random, inDim);
        var y0 = Reference.RandomArray(random, outDim);
        CheckAll(x, inDim, [new LoraSegment(0, 1, module)], y0, outDim, vStride: 7, tokens: 1);
    }

    [Fact]
    public void Realistic_shape_with_many_tokens_per_adapter()
    {
        var random = new Random(4);
        const int hidden = 512;
        var small = Reference.RandomModule(random, 8, hidden, hidden);
        var large = Reference.RandomModule(random, 64, hidden, hidden);
        LoraSegment[] segments = [new(0, 70, large), new(70, 3, small), new(73, 33, large), new(106, 1, small)];
        var x = Reference.RandomArray(random, 107 * hidden);
        var y0 = new float[107 * hidden];
        CheckAll(x, hidden, segments, y0, hidden, vStride: 64, tokens: 107);
    }

    [Fact]
    public void Rows_of_null_module_and_empty_segments_are_untouched()
    {
        var random = new Random(2);
        const int dim = 40;
        var module = Reference.RandomModule(random, 16, dim, dim);
        LoraSegment[] segments = [new(0, 3, null), new(3, 0, module), new(3, 2, module), new(5, 4, null)];
        var x = Reference.RandomArray(random, 9 * dim);
        foreach (var kernel in AllKernels())
        {
            var v = Enumerable.Repeat(-7f, 9 * 16).ToArray();
            var y = Enumerable.Repeat(3f, 9 * dim).ToArray();
            kernel.Shrink(x, dim, segments, v, 16);
            kernel.Expand(v, 16, segments, y, dim);
            Assert.All(y[..(3 * dim)], value => Assert.Equal(3f, value));
            Assert.All(y[(5 * dim)..], value => Assert.Equal(3f, value));
            Assert.All(v[..(3 * 16)], value => Assert.Equal(-7f, value));
            Assert.All(v[(5 * 16)..], value => Assert.Equal(-7f, value));
            Assert.Contains(y[(3 * dim)..(5 * dim)], value => value != 3f);
        }
    }

    [Fact]
    public void No_adapter_segments_at_all_is_a_no_op()
    {
        var y = new float[8];
        foreach (var kernel in AllKernels())
        {
            kernel.Shrink(new float[8], 4, [new LoraSegment(0, 2, null)], new float[2], 1);
            kernel.Expand(new float[2], 1, [], y, 4);
        }
        Assert.All(y, value => Assert.Equal(0f, value));
    }

    [Fact]
    public void Padded_shrink_computes_every_adapter_at_the_batch_largest_rank()
    {
        var random = new Random(3);
        const int dim = 24;
        var small = Reference.RandomModule(random, 4, dim, dim);
        var large = Reference.RandomModule(random, 12, dim, dim);
        LoraSegment[] segments = [new(0, 2, small), new(2, 1, large)];
        var x = Reference.RandomArray(random, 3 * dim);
        var padded = Enumerable.Repeat(float.NaN, 3 * 12).ToArray();
        var segmented = Enumerable.Repeat(float.NaN, 3 * 12).ToArray();
        MultiLoraKernels.Padded.Shrink(x, dim, segments, padded, 12);
        MultiLoraKernels.Segmented.Shrink(x, dim, segments, segmented, 12);
        for (int t = 0; t < 2; t++)
        {
            Assert.All(padded[(t * 12 + 4)..(t * 12 + 12)], value => Assert.Equal(0f, value));   // padded rows computed: zeros
            Assert.All(segmented[(t * 12 + 4)..(t * 12 + 12)], value => Assert.True(float.IsNaN(value)));   // segmented: never touched
        }
        var cached = PaddedWeightCache.Get(small, 12);
        Assert.Same(cached, PaddedWeightCache.Get(small, 12));
        Assert.Equal(12, cached.Rank);
        Assert.Equal(small.A, cached.A[..small.A.Length]);
        Assert.All(cached.A[small.A.Length..], value => Assert.Equal(0f, value));
        Assert.Same(large, PaddedWeightCache.Get(large, 12));
    }

    [Fact]
    public void FromPeft_transposes_B_and_BT_round_trips_through_the_panel_layout()
    {
        var random = new Random(8);
        const int rank = 3, inDim = 5, outDim = 70;
        var a = Reference.RandomArray(random, rank * inDim);
        var b = Reference.RandomArray(random, outDim * rank);
        var module = LoraModuleWeights.FromPeft(rank, inDim, outDim, 0.5f, a, b);
        for (int o = 0; o < outDim; o++)
            for (int j = 0; j < rank; j++)
                Assert.Equal(b[o * rank + j], module.BT[j * outDim + o]);
        Assert.Equal(a, module.A);
        Assert.Equal(0.5f, module.Scale);
    }

    [Fact]
    public void Invalid_batches_are_rejected()
    {
        var module = new LoraModuleWeights(4, 8, 6, 1f, new float[32], new float[24]);
        foreach (var kernel in AllKernels())
        {
            Assert.Throws<ArgumentException>(() => kernel.Shrink(new float[16], 8, [new LoraSegment(0, 2, module)], new float[6], 3));   // vStride < rank
            Assert.Throws<ArgumentException>(() => kernel.Shrink(new float[16], 7, [new LoraSegment(0, 2, module)], new float[8], 4));   // in mismatch
            Assert.Throws<ArgumentException>(() => kernel.Shrink(new float[8], 8, [new LoraSegment(0, 2, module)], new float[8], 4));    // x too short
            Assert.Throws<ArgumentException>(() => kernel.Expand(new float[8], 4, [new LoraSegment(0, 2, module)], new float[12], 5));   // out mismatch
            Assert.Throws<ArgumentException>(() => kernel.Expand(new float[8], 4, [new LoraSegment(1, 2, module)], new float[12], 6));   // y too short
            Assert.Throws<ArgumentException>(() => kernel.Expand(new float[16], 4, [new LoraSegment(2, 2, module), new LoraSegment(0, 3, module)], new float[24], 6));   // overlap
            Assert.Throws<ArgumentException>(() => kernel.Shrink(new float[16], 8, [new LoraSegment(-1, 2, module)], new float[8], 4));
        }
        Assert.Throws<ArgumentException>(() => new LoraModuleWeights(4, 8, 6, 1f, new float[31], new float[24]));
        Assert.Throws<ArgumentException>(() => new LoraModuleWeights(4, 8, 6, 1f, new float[32], new float[25]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LoraModuleWeights(4, 8, 6, float.NaN, new float[32], new float[24]));
    }

    [Fact]
    public void Kernels_are_found_by_name()
    {
        Assert.Same(MultiLoraKernels.Segmented, MultiLoraKernels.Create("segmented"));
        Assert.Same(MultiLoraKernels.Padded, MultiLoraKernels.Create("Padded"));
        Assert.Equal("loop", MultiLoraKernels.Create("loop").Name);
        var ex = Assert.Throws<ArgumentException>(() => MultiLoraKernels.Create("bgmv"));
        Assert.Contains("segmented", ex.Message);
    }
}
