using LoRAQueue.Core.Placement;

namespace LoRAQueue.Core.Tests.Placement;

public class LargestRemainderTests
{
    [Fact]
    public void Seats_go_to_the_largest_remainders_after_the_floors()
    {
        // Quotas 4.6, 3.3, 2.1 of 10: floors 4+3+2 = 9, the free seat goes to the .6.
        Assert.Equal([5, 3, 2], LargestRemainder.Apportion([46, 33, 21], 10));
        // Plain rounding would give 1+1+1 = 3 seats for 2 (quotas 0.67 each).
        Assert.Equal([1, 1, 0], LargestRemainder.Apportion([1, 1, 1], 2));
    }

    [Fact]
    public void Ties_go_to_the_larger_weight_then_the_lower_index()
    {
        Assert.Equal([0, 2], LargestRemainder.Apportion([1, 3], 2));      // quotas 0.5, 1.5: both remainders .5
        Assert.Equal([1, 1, 0, 0], LargestRemainder.Apportion([1, 1, 1, 1], 2));
    }

    [Fact]
    public void All_zero_weights_share_the_seats_equally()
    {
        Assert.Equal([2, 1, 1], LargestRemainder.Apportion([0, 0, 0], 4));
    }

    [Fact]
    public void Bad_input_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => LargestRemainder.Apportion([1, double.NaN], 2));
        Assert.Throws<ArgumentException>(() => LargestRemainder.Apportion([1, -1], 2));
        Assert.Throws<ArgumentException>(() => LargestRemainder.Apportion([], 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => LargestRemainder.Apportion([1], -1));
    }

    [Fact]
    public void Random_weights_always_sum_to_the_total_and_stay_within_one_of_each_quota()
    {
        var random = new Random(11);
        for (int c = 0; c < 2000; c++)
        {
            var weights = Enumerable.Range(0, random.Next(1, 9)).Select(_ => random.NextDouble() < 0.2 ? 0 : random.NextDouble() * 100).ToArray();
            int total = random.Next(0, 40);
            var seats = LargestRemainder.Apportion(weights, total);
            Assert.Equal(total, seats.Sum());
            double sum = weights.Sum();
            for (int i = 0; i < weights.Length; i++)
            {
                double quota = sum > 0 ? weights[i] * total / sum : (double)total / weights.Length;
                Assert.InRange(seats[i], Math.Floor(quota), Math.Ceiling(quota));
            }
        }
    }
}
