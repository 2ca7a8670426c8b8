using LoRAQueue.Cli.Demo;
using LoRAQueue.Core;

namespace LoRAQueue.Cli.Tests;

public sealed class RankAssignmentTests
{
    [Fact]
    public void Three_workers_get_bands_that_narrow_as_the_rank_grows()
    {
        var bands = RankAssignment.Partition(RankBuckets.Default, 3);

        Assert.Equal<int?[][]>([[null, 8, 16], [32, 64], [128]], bands.Select(b => b.ToArray()).ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void Every_rank_queue_has_exactly_one_worker_and_bands_are_contiguous(int workers)
    {
        var bands = RankAssignment.Partition(RankBuckets.Default, workers);

        Assert.Equal(workers, bands.Count);
        Assert.All(bands, band => Assert.NotEmpty(band));
        Assert.Equal(RankAssignment.Queues(RankBuckets.Default), bands.SelectMany(b => b));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void More_workers_than_rank_queues_or_none_are_refused(int workers)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RankAssignment.Partition(RankBuckets.Default, workers));
    }
}
