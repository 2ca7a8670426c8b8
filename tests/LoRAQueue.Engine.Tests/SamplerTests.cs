namespace LoRAQueue.Engine.Tests;

public sealed class SamplerTests
{
    private static readonly float[] Logits = [0.1f, 2.0f, -1.0f, 1.9f, 0.5f, 1.0f];

    [Fact]
    public void GreedyPicksTheArgmax()
    {
        var sampler = new Sampler(Logits.Length);
        Assert.Equal(1, sampler.Sample(Logits, new SamplingParams(), seed: 1, outputIndex: 0));
        Assert.Equal(1, sampler.Sample(Logits, new SamplingParams(Temperature: 5, TopK: 1), seed: 1, outputIndex: 0));
    }

    [Fact]
    public void TopKAndTopPRestrictTheCandidates()
    {
        var sampler = new Sampler(Logits.Length);
        var topK = Enumerable.Range(0, 2000).Select(i => sampler.Sample(Logits, new SamplingParams(Temperature: 10, TopK: 2), 9, i)).ToHashSet();
        Assert.Equal(new HashSet<int> { 1, 3 }, topK);

        // At temperature 1 the top two tokens (2.0, 1.9) hold ~0.37 + 0.34 of the mass: top_p 0.5 keeps exactly them.
        var topP = Enumerable.Range(0, 2000).Select(i => sampler.Sample(Logits, new SamplingParams(Temperature: 1, TopP: 0.5f), 9, i)).ToHashSet();
        Assert.Equal(new HashSet<int> { 1, 3 }, topP);

        var all = Enumerable.Range(0, 4000).Select(i => sampler.Sample(Logits, new SamplingParams(Temperature: 1), 9, i)).ToHashSet();
        Assert.Equal(6, all.Count);
    }

    [Fact]
    public void DrawsDependOnlyOnSeedAndIndex()
    {
        var a = new Sampler(Logits.Length);
        var b = new Sampler(Logits.Length);
        var p = new SamplingParams(Temperature: 1, Seed: 3);
        var first = Enumerable.Range(0, 50).Select(i => a.Sample(Logits, p, 3, i)).ToArray();
        var reversed = Enumerable.Range(0, 50).Reverse().Select(i => b.Sample(Logits, p, 3, i)).Reverse().ToArray();
        Assert.Equal(first, reversed);
        Assert.NotEqual(first, Enumerable.Range(0, 50).Select(i => a.Sample(Logits, p, 4, i)).ToArray());
    }
}
