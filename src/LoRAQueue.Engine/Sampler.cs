using System.Numerics.Tensors;

namespace LoRAQueue.Engine;

/// <summary>Greedy, temperature, top-k and top-p sampling. The random draw for output token n of a request is a
/// pure function of (seed, n), so a seeded request samples the same tokens whatever else is in the batch and
/// even after preemption and recompute. Scratch buffers are reused; one sampler per engine (engine thread only).</summary>
internal sealed class Sampler(int vocabSize)
{
    private readonly float[] _keys = new float[vocabSize];
    private readonly int[] _order = new int[vocabSize];
    private readonly float[] _probabilities = new float[vocabSize];

    public int Sample(ReadOnlySpan<float> logits, SamplingParams p, ulong seed, int outputIndex)
    {
        if (p.Temperature <= 0 || p.TopK == 1) return TensorPrimitives.IndexOfMax(logits);
        double u = UniformDraw(seed, outputIndex);
        float inverseTemperature = 1f / p.Temperature;

        bool truncates = (p.TopK > 0 && p.TopK < logits.Length) || p.TopP < 1;
        if (!truncates)
        {
            var probs = _probabilities.AsSpan(0, logits.Length);
            TensorPrimitives.Multiply(logits, inverseTemperature, probs);
            TensorPrimitives.SoftMax(probs, probs);
            return Draw(probs, u, null);
        }

        // Candidates by descending logit; keep the top k, then the smallest prefix whose mass reaches top_p.
        for (int i = 0; i < logits.Length; i++)
        {
            _keys[i] = -logits[i];
            _order[i] = i;
        }
        Array.Sort(_keys, _order, 0, logits.Length);
        int kept = p.TopK > 0 ? Math.Min(p.TopK, logits.Length) : logits.Length;
        var candidates = _probabilities.AsSpan(0, kept);
        for (int i = 0; i < kept; i++) candidates[i] = -_keys[i] * inverseTemperature;
        TensorPrimitives.SoftMax(candidates, candidates);

        if (p.TopP < 1)
        {
            double cumulative = 0;
            int prefix = 0;
            while (prefix < kept)
            {
                cumulative += candidates[prefix++];
                if (cumulative >= p.TopP) break;
            }
            candidates = candidates[..prefix];
        }
        return Draw(candidates, u * TensorPrimitives.Sum(candidates), _order);
    }

    /// <summary>Walks the cumulative distribution to <paramref name="target"/>; <paramref name="order"/> maps candidates to token ids.</summary>
    private static int Draw(ReadOnlySpan<float> probabilities, double target, int[]? order)
    {
        double cumulative = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            cumulative += probabilities[i];
            if (target < cumulative) return order is null ? i : order[i];
        }
        int lastIndex = probabilities.Length - 1;
        return order is null ? lastIndex : order[lastIndex];
    }

    /// <summary>Uniform [0, 1) from SplitMix64 of (seed, index).</summary>
    internal static double UniformDraw(ulong seed, int index)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL * (ulong)(index + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
