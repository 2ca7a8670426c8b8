namespace LoRAQueue.Workloads;

/// <summary>The seeded random draws of the generated workload.</summary>
public static class Distributions
{
    /// <summary>Gamma(shape, scale) by Marsaglia and Tsang (2000); shapes below 1 use Gamma(shape + 1)·U^(1/shape).</summary>
    public static double Gamma(Random rng, double shape, double scale)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shape);
        if (shape < 1) return Gamma(rng, shape + 1, scale) * Math.Pow(Uniform(rng), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = Normal(rng);
                v = 1 + c * x;
            }
            while (v <= 0);
            v = v * v * v;
            double u = Uniform(rng);
            if (u < 1 - 0.0331 * x * x * x * x || Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v * scale;
        }
    }

    /// <summary>Inter-arrival gaps with the given mean and coefficient of variation: Gamma with shape 1/CV², so CV 1
    /// is Poisson arrivals and larger CVs give bursts separated by lulls.</summary>
    public static double InterArrival(Random rng, double mean, double cv) => Gamma(rng, 1 / (cv * cv), mean * cv * cv);

    public static double Normal(Random rng) =>
        Math.Sqrt(-2 * Math.Log(Uniform(rng))) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>A whole number drawn log-normally around <paramref name="median"/>, clamped to [min, max].</summary>
    public static int LogNormal(Random rng, double median, double sigma, int min, int max) =>
        (int)Math.Clamp(Math.Round(median * Math.Exp(sigma * Normal(rng))), min, max);

    /// <summary>Cumulative Zipf weights: item i (0-based) has probability ∝ 1/(i+1)^exponent.</summary>
    public static double[] ZipfCumulative(int items, double exponent)
    {
        var cumulative = new double[items];
        double sum = 0;
        for (int i = 0; i < items; i++) cumulative[i] = sum += 1 / Math.Pow(i + 1, exponent);
        for (int i = 0; i < items; i++) cumulative[i] /= sum;
        return cumulative;
    }

    /// <summary>An index drawn from cumulative weights.</summary>
    public static int Pick(Random rng, double[] cumulative)
    {
        int i = Array.BinarySearch(cumulative, rng.NextDouble());
        return Math.Min(i >= 0 ? i : ~i, cumulative.Length - 1);
    }

    /// <summary>In (0, 1]: safe for Log and Pow.</summary>
    private static double Uniform(Random rng) => 1 - rng.NextDouble();
}
