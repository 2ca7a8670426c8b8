using LoRAQueue.Core;

namespace LoRAQueue.Core.Tests;

public class RankBucketsTests
{
    [Theory]
    [InlineData(1, 8)]
    [InlineData(8, 8)]
    [InlineData(9, 16)]
    [InlineData(16, 16)]
    [InlineData(17, 32)]
    [InlineData(33, 64)]
    [InlineData(100, 128)]
    [InlineData(128, 128)]
    public void Rank_rounds_up_to_the_next_boundary(int rank, int bucket) =>
        Assert.Equal(bucket, RankBuckets.Default.BucketOf(rank));

    [Theory]
    [InlineData(129, 256)]
    [InlineData(256, 256)]
    [InlineData(257, 512)]
    [InlineData(1000, 1024)]
    public void Rank_above_the_last_boundary_rounds_up_to_a_power_of_two(int rank, int bucket) =>
        Assert.Equal(bucket, RankBuckets.Default.BucketOf(rank));

    [Fact]
    public void Custom_boundaries_need_not_be_powers_of_two()
    {
        var buckets = new RankBuckets([4, 12, 48]);
        Assert.Equal(4, buckets.BucketOf(3));
        Assert.Equal(12, buckets.BucketOf(5));
        Assert.Equal(48, buckets.BucketOf(13));
        Assert.Equal(64, buckets.BucketOf(49));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-8)]
    public void Non_positive_rank_is_rejected(int rank) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => RankBuckets.Default.BucketOf(rank));

    [Fact]
    public void Boundaries_must_be_positive_and_strictly_ascending()
    {
        Assert.Throws<ArgumentException>(() => new RankBuckets([]));
        Assert.Throws<ArgumentException>(() => new RankBuckets([0, 8]));
        Assert.Throws<ArgumentException>(() => new RankBuckets([16, 8]));
        var e = Assert.Throws<ArgumentException>(() => new RankBuckets([8, 8]));
        Assert.Contains("ascending", e.Message);
    }

    [Fact]
    public void Parse_reads_a_comma_list_and_rejects_junk()
    {
        Assert.Equal([8, 16, 32], RankBuckets.Parse(" 8, 16 ,32").Boundaries);
        var e = Assert.Throws<FormatException>(() => RankBuckets.Parse("8,x"));
        Assert.Contains("'x'", e.Message);
    }

    [Theory]
    [InlineData(null, "lora-base")]
    [InlineData(8, "lora-rank-8")]
    [InlineData(128, "lora-rank-128")]
    [InlineData(256, "lora-rank-256")]
    public void Queue_names_round_trip(int? bucket, string name)
    {
        Assert.Equal(name, RankBuckets.QueueName(bucket));
        Assert.Equal(bucket, RankBuckets.ParseQueueName(name));
    }

    [Theory]
    [InlineData("lora-rank-")]
    [InlineData("lora-rank-08")]
    [InlineData("lora-rank-0")]
    [InlineData("lora-rank--8")]
    [InlineData("lora-rank-8_error")]
    [InlineData("job-history")]
    public void Other_queue_names_are_not_rank_queues(string name) =>
        Assert.Throws<FormatException>(() => RankBuckets.ParseQueueName(name));

    [Fact]
    public void All_queue_names_list_base_then_each_bucket()
    {
        Assert.Equal(["lora-base", "lora-rank-8", "lora-rank-16", "lora-rank-32", "lora-rank-64", "lora-rank-128"],
                     RankBuckets.Default.AllQueueNames());
    }

    [Fact]
    public void A_worker_queue_list_accepts_base_numbers_and_queue_names_without_duplicates()
    {
        Assert.Equal([null, 8, 128], RankBuckets.ParseQueueList("base, 8, lora-rank-128, lora-rank-8"));
        Assert.Throws<FormatException>(() => RankBuckets.ParseQueueList("base,eight"));
    }
}
