namespace LoRAQueue.Engine;

/// <summary>
/// The emulated backend's tokens: output n of a request is a pure function of (seed, n) — the seed is the request's sampling
/// seed, else a stable hash (FNV-1a 64) of its id — drawn uniformly from the vocabulary without its end-of-sequence ids and the
/// tokenizer's BOS. So reruns give the same text, whatever else is in the batch and after preemption, and no request ends on
/// EOS: it runs to its max tokens (or a stop string), as the twin replays recorded output lengths.
/// </summary>
public sealed class EmulatedTokens
{
    private readonly int _vocab;
    private readonly int[] _excluded; // sorted, distinct, inside the vocabulary

    public EmulatedTokens(int vocabSize, IEnumerable<int> excluded)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        _vocab = vocabSize;
        _excluded = [.. excluded.Where(t => t >= 0 && t < vocabSize).Distinct().Order()];
        if (_excluded.Length >= vocabSize) throw new ArgumentException("every token of the vocabulary is excluded", nameof(excluded));
    }

    /// <summary>Token ids never emitted (EOS, BOS).</summary>
    public IReadOnlyList<int> Excluded => _excluded;

    /// <summary>Output token <paramref name="outputIndex"/> (0-based) of a request with this seed.</summary>
    public int At(ulong seed, int outputIndex)
    {
        int candidates = _vocab - _excluded.Length;
        int token = (int)(Sampler.UniformDraw(seed, outputIndex) * candidates);
        if (token >= candidates) token = candidates - 1;
        foreach (int skipped in _excluded)
        {
            if (skipped > token) break;
            token++; // the k-th allowed id: step over every excluded id at or below it
        }
        return token;
    }

    /// <summary>The seed of a request: its sampling seed, else FNV-1a 64 of its id (stable across processes and runs).</summary>
    public static ulong SeedOf(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Sampling?.Seed is ulong seed) return seed;
        ulong hash = 14695981039346656037UL;
        foreach (char c in request.Id)
        {
            hash = (hash ^ (byte)c) * 1099511628211UL;
            hash = (hash ^ (byte)(c >> 8)) * 1099511628211UL;
        }
        return hash;
    }
}
