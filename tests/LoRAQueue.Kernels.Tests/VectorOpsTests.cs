using LoRAQueue.Kernels;

namespace LoRAQueue.Kernels.Tests;

public class VectorOpsTests
{
    static void Close(double expected, float actual, double tolerance = 1e-5) =>
        Assert.True(Math.Abs(expected - actual) <= tolerance * Math.Max(1, Math.Abs(expected)), $"{actual} != {expected}");

    [Fact]
    public void RmsNorm_normalises_each_row_and_can_run_in_place()
    {
        var random = new Random(1);
        const int width = 37, rows = 3;
        var x = Reference.RandomArray(random, rows * width, 5f);
        var weight = Reference.RandomArray(random, width);
        var output = new float[rows * width];
        VectorOps.RmsNorm(x, weight, 1e-5f, output);
        for (int r = 0; r < rows; r++)
        {
            double meanSquare = Enumerable.Range(0, width).Sum(i => (double)x[r * width + i] * x[r * width + i]) / width;
            for (int i = 0; i < width; i++)
                Close(x[r * width + i] / Math.Sqrt(meanSquare + 1e-5) * weight[i], output[r * width + i]);
        }
        VectorOps.RmsNorm(x, weight, 1e-5f, x);
        Assert.Equal(output, x);
        Assert.Throws<ArgumentException>(() => VectorOps.RmsNorm(new float[10], new float[3], 1e-5f, new float[10]));
    }

    [Fact]
    public void SiluMul_matches_the_formula_including_when_output_aliases_an_input()
    {
        var random = new Random(2);
        var gate = Reference.RandomArray(random, 1100, 8f);
        var up = Reference.RandomArray(random, 1100);
        var output = new float[1100];
        VectorOps.SiluMul(gate, up, output);
        for (int i = 0; i < gate.Length; i++)
            Close(gate[i] / (1 + Math.Exp(-gate[i])) * up[i], output[i]);
        var inPlace = (float[])gate.Clone();
        VectorOps.SiluMul(inPlace, up, inPlace);
        Assert.Equal(output, inPlace);
    }

    [Fact]
    public void Softmax_sums_to_one_and_survives_large_logits()
    {
        float[] values = [1000f, 999f, 998f, -5f, 1000f];
        VectorOps.Softmax(values);
        double z = 2 + Math.Exp(-1) + Math.Exp(-2) + Math.Exp(-1005);
        Close(1 / z, values[0]);
        Close(Math.Exp(-1) / z, values[1]);
        Close(1.0, values.Sum());
        Assert.All(values, v => Assert.True(float.IsFinite(v)));
        VectorOps.Softmax(Span<float>.Empty);
    }

    [Fact]
    public void Dot_and_axpy_match_scalar_loops()
    {
        var random = new Random(3);
        var a = Reference.RandomArray(random, 131);
        var b = Reference.RandomArray(random, 131);
        Close(a.Zip(b).Sum(p => (double)p.First * p.Second), VectorOps.Dot(a, b), 1e-5);
        var y = (float[])b.Clone();
        VectorOps.Axpy(0.25f, a, y);
        for (int i = 0; i < y.Length; i++) Close(b[i] + 0.25 * a[i], y[i]);
        Assert.Throws<ArgumentException>(() => VectorOps.Axpy(1f, a, new float[3]));
    }

    [Fact]
    public void Bf16_widening_is_exact()
    {
        var random = new Random(4);
        var bits = Enumerable.Range(0, 77).Select(_ => (ushort)random.Next(0, 0x7F80)).ToArray();
        var widened = new float[77];
        VectorOps.Bf16ToFloat(bits, widened);
        for (int i = 0; i < bits.Length; i++) Assert.Equal(BitConverter.Int32BitsToSingle(bits[i] << 16), widened[i]);
        Assert.Equal(0x3F80, Bf16.FromFloat(1f));
        Assert.Equal(0x3F80, Bf16.FromFloat(1.00390625f));   // halfway rounds to even
        Assert.Equal(0x3F82, Bf16.FromFloat(1.01171875f));   // halfway from odd rounds up
    }
}
