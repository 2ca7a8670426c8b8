namespace LoRAQueue.Formats.Tests.Tokenization;

public class BpeTrainerTests
{
    [Fact]
    public void MergesTheMostFrequentPairFirst()
    {
        var words = new Dictionary<string, int> { ["low"] = 5, ["lower"] = 2, ["newest"] = 6, ["widest"] = 3 };

        var learned = BpeTrainer.Train(words, maxMerges: 3);

        // "es" and "st" both occur 9 times; ties go to the ordinally smaller pair, then "est" (9) follows.
        Assert.Equal(("e", "s"), learned.Merges[0]);
        Assert.Equal(("es", "t"), learned.Merges[1]);
        Assert.Equal(("l", "o"), learned.Merges[2]);
        Assert.Equal("e", learned.Alphabet[0]); // the most frequent symbol leads the alphabet
    }

    [Fact]
    public void StopsWhenNoPairRepeatsAndRespectsTheMaximumLength()
    {
        var words = new Dictionary<string, int> { ["abcdef"] = 10, ["xy"] = 1 };

        var learned = BpeTrainer.Train(words, maxMerges: 100, minPairCount: 2, maxPieceLength: 3);

        Assert.DoesNotContain(learned.Merges, m => m == ("x", "y"));
        Assert.All(learned.Merges, m => Assert.True(m.Left.Length + m.Right.Length <= 3));
        Assert.NotEmpty(learned.Merges);
    }

    [Fact]
    public void IsDeterministicAndKeepsSurrogatePairsWhole()
    {
        var words = new Dictionary<string, int> { ["🤖a"] = 3, ["🤖b"] = 3, ["ab"] = 1 };

        var first = BpeTrainer.Train(words, 10);
        var second = BpeTrainer.Train(new Dictionary<string, int>(words.Reverse()), 10);

        Assert.Equal(first.Merges, second.Merges);
        Assert.Equal(first.Alphabet, second.Alphabet);
        Assert.Contains("🤖", first.Alphabet);
    }
}
