using LoRAQueue.Kernels;

namespace LoRAQueue.Kernels.Tests;

/// <summary>
/// Naive references accumulated in double, each with the magnitude Σ|terms| of its sum. Kernels must match
/// within <see cref="Tolerance"/> × magnitude: float accumulation error is bounded relative to Σ|terms|,
/// not to the (possibly cancelling) result.
/// </summary>
internal static class Reference
{
    public const double Tolerance = 1e-4;

    public static float[] RandomArray(Random random, int length, float amplitude = 1f)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++) values[i] = (random.NextSingle() * 2 - 1) * amplitude;
        return values;
    }

    /// <summary>y[t, o] (+)= Σ x[t, i]·W[o, i] (+ bias[o]).</summary>
    public static (double[] Value, double[] Magnitude) MatMulTransposed(float[] x, int tokens, float[] w, int rows, int cols,
                                                                       float[]? bias, float[]? initialY)
    {
        var value = new double[tokens * rows];
        var magnitude = new double[tokens * rows];
        for (int t = 0; t < tokens; t++)
            for (int o = 0; o < rows; o++)
            {
                double sum = 0, abs = 0;
                for (int i = 0; i < cols; i++)
                {
                    double term = (double)x[t * cols + i] * w[o * cols + i];
                    sum += term; abs += Math.Abs(term);
                }
                if (bias != null) { sum += bias[o]; abs += Math.Abs(bias[o]); }
                if (initialY != null) { sum += initialY[t * rows + o]; abs += Math.Abs(initialY[t * rows + o]); }
                value[t * rows + o] = sum; magnitude[t * rows + o] = abs;
            }
        return (value, magnitude);
    }

    /// <summary>y after shrink + expand: y0[t] + scale·(x[t]·Aᵀ)·Bᵀ for each adapter segment, y0 elsewhere.</summary>
    public static (double[] Value, double[] Magnitude) Lora(float[] x, int inDim, LoraSegment[] segments, float[] y0, int outDim)
    {
        var value = y0.Select(v => (double)v).ToArray();
        var magnitude = y0.Select(v => Math.Abs((double)v)).ToArray();
        foreach (var s in segments)
        {
            if (s.Module is null) continue;
            var m = s.Module;
            var bt = m.BT;
            for (int t = s.Start; t < s.Start + s.Length; t++)
            {
                var shrunk = new double[m.Rank];
                var shrunkAbs = new double[m.Rank];
                for (int j = 0; j < m.Rank; j++)
                    for (int i = 0; i < inDim; i++)
                    {
                        double term = (double)x[t * inDim + i] * m.A[j * inDim + i];
                        shrunk[j] += term; shrunkAbs[j] += Math.Abs(term);
                    }
                for (int o = 0; o < outDim; o++)
                    for (int j = 0; j < m.Rank; j++)
                    {
                        value[t * outDim + o] += m.Scale * shrunk[j] * bt[j * outDim + o];
                        magnitude[t * outDim + o] += Math.Abs(m.Scale * bt[j * outDim + o]) * shrunkAbs[j];
                    }
            }
        }
        return (value, magnitude);
    }

    public static void AssertClose((double[] Value, double[] Magnitude) expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.True(actual.Length >= expected.Value.Length, $"{what}: output too short");
        for (int i = 0; i < expected.Value.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected.Value[i]);
            double allowed = Tolerance * expected.Magnitude[i] + 1e-30;
            if (!(error <= allowed))
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected.Value[i]} (error {error:G3} > {allowed:G3})");
        }
    }

    public static LoraModuleWeights RandomModule(Random random, int rank, int inDim, int outDim) =>
        new(rank, inDim, outDim, scale: 2f / rank, RandomArray(random, rank * inDim), RandomArray(random, rank * outDim));
}
