using LoRAQueue.Kernels;

namespace LoRAQueue.Bench;

/// <summary>
/// A synthetic multi-LoRA batch. Construction (deterministic from the seed):
/// adapter i (0-based) has popularity ∝ 1/(i+1)^s (Zipf, s = 1.1 by default); each token picks its adapter
/// from that distribution; tokens are grouped by adapter into contiguous segments (most popular first), as a
/// scheduler gathers them; adapters that got no token are not in the batch. Ranks: uniform cases give every
/// adapter the same rank; mixed cases use <see cref="StratifiedRanks"/> over the rank choices
/// ({8,16,32,64,128} by default). A: [r, hidden] and Bᵀ: [r, hidden] with small random values, scale = 16 / r.
/// </summary>
public sealed class LoraWorkload
{
    public required string Name { get; init; }
    public required int Hidden { get; init; }
    public required int Tokens { get; init; }
    public required LoraSegment[] Segments { get; init; }

    public int[] SegmentRanks => Segments.Select(s => s.Module!.Rank).ToArray();
    public int MaxRank => Segments.Max(s => s.Module!.Rank);
    /// <summary>FLOPs of shrink + expand when every segment runs at <paramref name="paddedRank"/> (0: its own rank).</summary>
    public double Flops(int paddedRank = 0) =>
        Segments.Sum(s => 2.0 * s.Length * (paddedRank > 0 ? paddedRank : s.Module!.Rank) * (Hidden + Hidden));

    public static LoraWorkload Create(string name, int hidden, int tokens, int adapters, double zipf,
                                      Func<int, int> rankOfAdapter, int seed)
    {
        var random = new Random(seed);
        var cumulative = new double[adapters];
        double total = 0;
        for (int i = 0; i < adapters; i++) cumulative[i] = total += 1.0 / Math.Pow(i + 1, zipf);
        var tokensPerAdapter = new int[adapters];
        for (int t = 0; t < tokens; t++)
        {
            int pick = Array.BinarySearch(cumulative, random.NextDouble() * total);
            tokensPerAdapter[pick < 0 ? ~pick : pick]++;
        }
        var segments = new List<LoraSegment>();
        int start = 0;
        for (int i = 0; i < adapters; i++)
        {
            if (tokensPerAdapter[i] == 0) continue;
            int rank = rankOfAdapter(i);
            segments.Add(new LoraSegment(start, tokensPerAdapter[i], RandomModule(rank, hidden, seed * 7919 + i)));
            start += tokensPerAdapter[i];
        }
        return new LoraWorkload { Name = name, Hidden = hidden, Tokens = tokens, Segments = [.. segments] };
    }

    /// <summary>
    /// Ranks for adapters in popularity order: each consecutive block of |choices| adapters gets a random
    /// permutation of the choices, so every rank is equally common and equally spread over hot and cold adapters
    /// (rank independent of popularity) without one draw piling the hottest adapters onto one rank.
    /// </summary>
    public static int[] StratifiedRanks(int adapters, IReadOnlyList<int> choices, int seed)
    {
        var random = new Random(seed);
        var ranks = new int[adapters];
        var block = choices.ToArray();
        for (int start = 0; start < adapters; start += block.Length)
        {
            random.Shuffle(block);
            for (int k = 0; k < block.Length && start + k < adapters; k++) ranks[start + k] = block[k];
        }
        return ranks;
    }

    static LoraModuleWeights RandomModule(int rank, int hidden, int seed)
    {
        var a = new float[rank * hidden];
        var bt = new float[rank * hidden];
        Fill(a, (ulong)seed * 2 + 1, 0.05f);
        Fill(bt, (ulong)seed * 2 + 2, 0.05f);
        return new LoraModuleWeights(rank, hidden, hidden, 16f / rank, a, bt);
    }

    /// <summary>Uniform values in [-amplitude, amplitude) from a xorshift generator (fast for 100+ MB of weights).</summary>
    public static void Fill(Span<float> values, ulong seed, float amplitude)
    {
        ulong state = seed * 0x9E3779B97F4A7C15UL | 1;
        for (int i = 0; i < values.Length; i++)
        {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            values[i] = ((state >> 40) * (1.0f / (1 << 24)) * 2 - 1) * amplitude;
        }
    }
}
