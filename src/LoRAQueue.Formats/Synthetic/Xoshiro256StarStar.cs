using System.Numerics;

namespace LoRAQueue.Formats;

/// <summary>
/// xoshiro256** (Blackman &amp; Vigna), seeded through SplitMix64. Fast, small, and the same sequence on
/// every machine, which is what synthetic weights need; not for cryptography.
/// </summary>
public struct Xoshiro256StarStar
{
    private ulong _s0, _s1, _s2, _s3;

    public Xoshiro256StarStar(ulong seed)
    {
        _s0 = SplitMix64(ref seed);
        _s1 = SplitMix64(ref seed);
        _s2 = SplitMix64(ref seed);
        _s3 = SplitMix64(ref seed);
    }

    public ulong NextUInt64()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 24 random bits (all a float holds).</summary>
    public float NextSingle() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>Fills with U(<paramref name="low"/>, <paramref name="high"/>).</summary>
    public void FillUniform(Span<float> destination, float low, float high)
    {
        float width = high - low;
        for (int i = 0; i < destination.Length; i++) destination[i] = low + width * NextSingle();
    }

    /// <summary>Fills with N(0, <paramref name="std"/>²) by Box–Muller, two values per pair of uniforms.</summary>
    public void FillNormal(Span<float> destination, float std)
    {
        int i = 0;
        for (; i < destination.Length; i += 2)
        {
            ulong bits = NextUInt64();
            // Two 32-bit uniforms from one draw; u1 in (0, 1] keeps the logarithm finite.
            float u1 = ((uint)bits + 1f) * (1f / 4294967296f);
            float u2 = (uint)(bits >> 32) * (1f / 4294967296f);
            float radius = std * MathF.Sqrt(-2f * MathF.Log(u1));
            var (sin, cos) = MathF.SinCos(2f * MathF.PI * u2);
            destination[i] = radius * cos;
            if (i + 1 < destination.Length) destination[i + 1] = radius * sin;
        }
    }

    /// <summary>
    /// The seed of one independent stream: a model seed, a tensor name and a chunk index give the same
    /// numbers however the chunks are scheduled across threads.
    /// </summary>
    public static ulong StreamSeed(ulong seed, string name, long chunk)
    {
        ulong hash = 14695981039346656037UL; // FNV-1a over the UTF-16 code units
        foreach (char c in name) hash = (hash ^ c) * 1099511628211UL;
        ulong state = seed ^ hash;
        ulong mixed = SplitMix64(ref state);
        state = mixed ^ (ulong)chunk;
        return SplitMix64(ref state);
    }

    private static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
