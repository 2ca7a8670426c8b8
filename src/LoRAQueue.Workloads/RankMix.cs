using System.Globalization;

namespace LoRAQueue.Workloads;

/// <summary>
/// The LoRA ranks a set of adapters has, as weights (shares of the adapters): <c>8:0.4,16:0.3,32:0.3</c>, or a plain list
/// <c>8,16,32</c> for equal shares. Weights need not sum to 1 (they are normalised).
/// </summary>
public sealed class RankMix
{
    private RankMix(IReadOnlyList<(int Rank, double Weight)> entries)
    {
        if (entries.Count == 0) throw new ArgumentException("a rank mix needs at least one rank");
        double sum = entries.Sum(e => e.Weight);
        Entries = entries.Select(e => (e.Rank, e.Weight / sum)).ToList();
    }

    /// <summary>Ranks with their shares, summing to 1, in the order given.</summary>
    public IReadOnlyList<(int Rank, double Weight)> Entries { get; }

    /// <summary>Equal shares of 8, 16, 32, 64 and 128: the ranks the project's rank queues serve.</summary>
    public static RankMix Default { get; } = Uniform([8, 16, 32, 64, 128]);

    public static RankMix Uniform(IEnumerable<int> ranks) => Of(ranks.Select(r => (r, 1.0)));

    public static RankMix Of(IEnumerable<(int Rank, double Weight)> entries)
    {
        var list = entries.ToList();
        foreach (var (rank, weight) in list)
        {
            if (rank < 1) throw new ArgumentException($"rank {rank} is not ≥ 1");
            if (!(weight > 0 && double.IsFinite(weight))) throw new ArgumentException($"rank {rank}'s weight {weight} is not a positive number");
        }
        if (list.Select(e => e.Rank).Distinct().Count() != list.Count) throw new ArgumentException("a rank is named twice");
        return new RankMix(list);
    }

    /// <summary>"8:0.4,16:0.3,32:0.3" or "8,16,32"; a <see cref="FormatException"/> saying what is wrong otherwise.</summary>
    public static RankMix Parse(string text)
    {
        var entries = new List<(int, double)>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var pieces = part.Split(':', StringSplitOptions.TrimEntries);
            if (pieces.Length > 2 || !int.TryParse(pieces[0], NumberStyles.None, CultureInfo.InvariantCulture, out int rank) || rank < 1)
                throw new FormatException($"'{part}' in the rank mix '{text}' is not RANK or RANK:WEIGHT (e.g. 8:0.4,16:0.3,32:0.3)");
            double weight = 1;
            if (pieces.Length == 2 && !(double.TryParse(pieces[1], NumberStyles.Float, CultureInfo.InvariantCulture, out weight) && weight > 0 && double.IsFinite(weight)))
                throw new FormatException($"the weight of rank {rank} in the rank mix '{text}' is not a positive number");
            entries.Add((rank, weight));
        }
        try
        {
            return Of(entries);
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"the rank mix '{text}': {e.Message}");
        }
    }

    /// <summary>One rank drawn by weight.</summary>
    public int Draw(Random rng)
    {
        double u = rng.NextDouble(), sum = 0;
        foreach (var (rank, weight) in Entries)
            if (u < (sum += weight)) return rank;
        return Entries[^1].Rank;
    }

    /// <summary>
    /// Ranks for <paramref name="adapters"/> adapters with the mix's shares as exactly as whole numbers allow (largest
    /// remainders), in a seeded random order: adapter i's rank is then independent of i, so a popularity that follows
    /// the order (Zipf over the adapters' indices) is independent of rank.
    /// </summary>
    public int[] Assign(int adapters, Random rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(adapters);
        var counts = Entries.Select(e => (int)Math.Floor(e.Weight * adapters)).ToArray();
        foreach (int i in Enumerable.Range(0, Entries.Count).OrderByDescending(i => Entries[i].Weight * adapters - counts[i]).ThenBy(i => i)
                                    .Take(adapters - counts.Sum()))
            counts[i]++;
        var ranks = Entries.SelectMany((e, i) => Enumerable.Repeat(e.Rank, counts[i])).ToArray();
        rng.Shuffle(ranks);
        return ranks;
    }

    public override string ToString() =>
        string.Join(",", Entries.Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Rank}:{e.Weight:0.###}")));
}
