using LoRAQueue.Kernels;

namespace LoRAQueue.Kernels.Tests;

public class GemmTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 64, 48 }, { 3, 37, 29 }, { 17, 130, 67 }, { 64, 96, 300 }, { 1, 257, 1 }, { 5, 3, 1000 }, { 8, 65, 513 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void F32_matches_reference_on_every_path_and_width(int tokens, int rows, int cols)
    {
        var random = new Random(tokens * 1000 + rows);
        var w = Reference.RandomArray(random, rows * cols);
        var x = Reference.RandomArray(random, tokens * cols);
        var matrix = WeightMatrix.Pin(w, rows, cols);
        var expected = Reference.MatMulTransposed(x, tokens, w, rows, cols, null, null);
        foreach (var (width, packed) in Variants())
        {
            var y = new float[tokens * rows];
            Gemm.MatMulTransposed(x, tokens, matrix, y, default, false, width, packed, WorkerPool.Shared);
            Reference.AssertClose(expected, y, $"F32 {width} packed={packed}");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Bf16_matches_reference_of_the_widened_weights(int tokens, int rows, int cols)
    {
        var random = new Random(tokens * 7 + cols);
        var bits = Reference.RandomArray(random, rows * cols).Select(Bf16.FromFloat).ToArray();
        var widened = bits.Select(Bf16.ToFloat).ToArray();
        var x = Reference.RandomArray(random, tokens * cols);
        var matrix = WeightMatrix.PinBf16(bits, rows, cols);
        var expected = Reference.MatMulTransposed(x, tokens, widened, rows, cols, null, null);
        foreach (var (width, packed) in Variants())
        {
            var y = new float[tokens * rows];
            Gemm.MatMulTransposed(x, tokens, matrix, y, default, false, width, packed, WorkerPool.Shared);
            Reference.AssertClose(expected, y, $"BF16 {width} packed={packed}");
        }
    }

    [Theory]
    [InlineData(1, false, true)]
    [InlineData(1, true, false)]
    [InlineData(1, true, true)]
    [InlineData(17, false, true)]
    [InlineData(17, true, false)]
    [InlineData(17, true, true)]
    public void Bias_and_accumulate_combine_with_the_product(int tokens, bool withBias, bool accumulate)
    {
        const int rows = 70, cols = 45;
        var random = new Random(tokens + (withBias ? 10 : 0) + (accumulate ? 100 : 0));
        var w = Reference.RandomArray(random, rows * cols);
        var x = Reference.RandomArray(random, tokens * cols);
        var bias = withBias ? Reference.RandomArray(random, rows) : null;
        var initial = Reference.RandomArray(random, tokens * rows);
        var expected = Reference.MatMulTransposed(x, tokens, w, rows, cols, bias, accumulate ? initial : null);
        var matrix = WeightMatrix.Pin(w, rows, cols);
        foreach (var (width, packed) in Variants())
        {
            var y = (float[])initial.Clone();
            Gemm.MatMulTransposed(x, tokens, matrix, y, bias, accumulate, width, packed, WorkerPool.Shared);
            Reference.AssertClose(expected, y, $"{width} packed={packed}");
        }
    }

    [Fact]
    public void Public_entry_point_picks_a_path_by_token_count_and_leaves_extra_output_untouched()
    {
        var random = new Random(5);
        const int rows = 33, cols = 50;
        var w = Reference.RandomArray(random, rows * cols);
        var matrix = WeightMatrix.Pin(w, rows, cols);
        foreach (int tokens in new[] { 1, 3, 17, 64, 256 })
        {
            var x = Reference.RandomArray(random, tokens * cols);
            var y = new float[tokens * rows + 5];
            y.AsSpan(tokens * rows).Fill(42f);
            Gemm.MatMulTransposed(x, tokens, matrix, y);
            Reference.AssertClose(Reference.MatMulTransposed(x, tokens, w, rows, cols, null, null), y, $"tokens {tokens}");
            Assert.All(y[(tokens * rows)..], value => Assert.Equal(42f, value));
        }
    }

    [Fact]
    public void Zero_tokens_is_a_no_op()
    {
        var matrix = WeightMatrix.Pin(new float[6], 2, 3);
        Gemm.MatMulTransposed(ReadOnlySpan<float>.Empty, 0, matrix, Span<float>.Empty);
    }

    [Fact]
    public void Bad_arguments_are_rejected_with_the_sizes_in_the_message()
    {
        var matrix = WeightMatrix.Pin(new float[12], 3, 4);
        var ex = Assert.Throws<ArgumentException>(() => Gemm.MatMulTransposed(new float[7], 2, matrix, new float[6]));
        Assert.Contains("2×4", ex.Message);
        Assert.Throws<ArgumentException>(() => Gemm.MatMulTransposed(new float[8], 2, matrix, new float[5]));
        Assert.Throws<ArgumentException>(() => Gemm.MatMulTransposed(new float[8], 2, matrix, new float[6], new float[2]));
        Assert.Throws<ArgumentException>(() => Gemm.MatMulTransposed(new float[8], 2, default(WeightMatrix), new float[6]));
        Assert.Throws<ArgumentException>(() => WeightMatrix.Pin(new float[11], 3, 4));
    }

    [Fact]
    public void Weight_matrix_reports_its_byte_length()
    {
        Assert.Equal(3 * 4 * 4, WeightMatrix.Pin(new float[12], 3, 4).ByteLength);
        Assert.Equal(3 * 4 * 2, WeightMatrix.PinBf16(new ushort[12], 3, 4).ByteLength);
    }

    internal static IEnumerable<(SimdWidth Width, bool Packed)> Variants()
    {
        foreach (var width in SupportedWidths())
        {
            yield return (width, false);
            yield return (width, true);
        }
    }

    internal static IEnumerable<SimdWidth> SupportedWidths()
    {
        yield return SimdWidth.V128;
        if (Vector256.IsHardwareAccelerated) yield return SimdWidth.V256;
        if (Vector512.IsHardwareAccelerated) yield return SimdWidth.V512;
    }
}
