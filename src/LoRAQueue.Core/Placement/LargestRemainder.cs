namespace LoRAQueue.Core.Placement;

/// <summary>Largest-remainder (Hamilton) apportionment: integer shares that always sum to the total, which plain
/// rounding does not guarantee.</summary>
public static class LargestRemainder
{
    /// <summary>
    /// Splits <paramref name="total"/> seats in proportion to <paramref name="weights"/>: each gets the floor of its
    /// exact quota, the seats still free go one each to the largest fractional remainders (ties: the larger weight,
    /// then the lower index, so the result is deterministic). All-zero weights share the seats equally.
    /// </summary>
    public static int[] Apportion(IReadOnlyList<double> weights, int total)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentOutOfRangeException.ThrowIfNegative(total);
        if (weights.Count == 0)
            return total == 0 ? [] : throw new ArgumentException("cannot apportion seats among no parties", nameof(weights));
        double sum = 0;
        foreach (var w in weights)
        {
            if (!double.IsFinite(w) || w < 0) throw new ArgumentException($"weights must be finite and ≥ 0 (got {w})", nameof(weights));
            sum += w;
        }

        var seats = new int[weights.Count];
        var remainders = new double[weights.Count];
        int given = 0;
        for (int i = 0; i < weights.Count; i++)
        {
            double quota = sum > 0 ? weights[i] * total / sum : (double)total / weights.Count;
            seats[i] = (int)Math.Floor(quota);
            remainders[i] = quota - seats[i];
            given += seats[i];
        }
        var order = Enumerable.Range(0, weights.Count)
            .OrderByDescending(i => remainders[i]).ThenByDescending(i => weights[i]).ThenBy(i => i).ToArray();
        // Σ floors ≤ total and the free seats are fewer than the parties (up to rounding, hence the wrap-around).
        for (int k = 0; given < total; k = (k + 1) % order.Length, given++) seats[order[k]]++;
        return seats;
    }
}
