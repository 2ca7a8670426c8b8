using LoRAQueue.Worker;

namespace LoRAQueue.Worker.Tests;

public class OperatingPointEstimatorTests
{
    [Fact]
    public void Without_samples_every_rank_takes_the_calibrated_base_throughput()
    {
        var estimator = new OperatingPointEstimator(400, 16, [8, 32, 128]);
        var points = estimator.Points();
        Assert.Equal([0, 8, 32, 128], points.Keys);
        Assert.All(points.Values, v => Assert.Equal(400, v));
    }

    [Fact]
    public void Live_step_times_set_the_point_of_the_largest_rank_served()
    {
        var estimator = new OperatingPointEstimator(400, 16, [8, 32, 128]);
        Assert.True(estimator.Observe(128, TimeSpan.FromMilliseconds(80), jobsInEngine: 16)); // 16 tokens per 80 ms = 200 tokens/s
        var points = estimator.Points();
        Assert.Equal(400, points[8]);
        Assert.Equal(400, points[32]);
        Assert.Equal(200, points[128], 6);
        Assert.Equal(200, estimator.At(128), 6);
    }

    [Fact]
    public void Samples_from_an_under_half_full_batch_are_ignored()
    {
        var estimator = new OperatingPointEstimator(400, 16, [8]);
        Assert.False(estimator.Observe(8, TimeSpan.FromMilliseconds(10), jobsInEngine: 7));
        Assert.Equal(400, estimator.Points()[8]);
    }

    [Fact]
    public void One_noisy_low_rank_is_averaged_with_its_neighbours_instead_of_capping_every_larger_rank()
    {
        var estimator = new OperatingPointEstimator(400, 16, [8, 32, 64, 128]);
        estimator.Observe(8, TimeSpan.FromMilliseconds(16 / 380.0 * 1000), 16); // 380 tokens/s
        estimator.Observe(32, TimeSpan.FromMilliseconds(100), 16);              // 160 tokens/s: a noisy low sample
        estimator.Observe(128, TimeSpan.FromMilliseconds(50), 16);              // 320 tokens/s
        var points = estimator.Points();
        Assert.Equal(400, points[0], 6);
        Assert.Equal(380, points[8], 2);      // TimeSpan keeps 100 ns ticks
        Assert.Equal(240, points[32], 6);  // (160 + 320) / 2: the closest non-increasing fit
        Assert.Equal(240, points[64], 6);  // no sample: the next smaller rank's point
        Assert.Equal(240, points[128], 6);
    }

    [Fact]
    public void A_rank_measured_faster_than_the_base_is_pooled_with_it_so_points_never_rise_with_rank()
    {
        var estimator = new OperatingPointEstimator(400, 16, [8, 32]);
        estimator.Observe(8, TimeSpan.FromMilliseconds(20), 16);   // 800 tokens/s
        estimator.Observe(32, TimeSpan.FromMilliseconds(100), 16); // 160 tokens/s
        var points = estimator.Points();
        Assert.Equal(600, points[0], 6);
        Assert.Equal(600, points[8], 6);
        Assert.Equal(160, points[32], 6);
        Assert.True(points.Values.Zip(points.Values.Skip(1)).All(p => p.First >= p.Second));
    }

    [Fact]
    public void Step_times_are_smoothed_so_one_slow_step_moves_the_point_a_little()
    {
        var estimator = new OperatingPointEstimator(1000, 10, [64]);
        estimator.Observe(64, TimeSpan.FromMilliseconds(50), 10);  // 200 tokens/s
        estimator.Observe(64, TimeSpan.FromMilliseconds(550), 10); // a burst: mean step 50 + 0.2 · 500 = 150 ms
        Assert.Equal(10 / 0.150, estimator.Points()[64], 6);
    }
}
