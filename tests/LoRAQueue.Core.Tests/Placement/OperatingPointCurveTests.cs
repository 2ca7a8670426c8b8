using LoRAQueue.Core.Placement;

namespace LoRAQueue.Core.Tests.Placement;

public class OperatingPointCurveTests
{
    private static readonly Dictionary<int, double> A100 = new() { [8] = 2400, [16] = 2100, [32] = 1900, [64] = 1700, [128] = 1600 };

    [Fact]
    public void Measured_ranks_are_returned_as_measured()
    {
        var curve = new OperatingPointCurve(A100);
        foreach (var (rank, tps) in A100) Assert.Equal(tps, curve.At(rank));
    }

    [Fact]
    public void A_missing_rank_is_interpolated_linearly_in_time_per_token()
    {
        var curve = new OperatingPointCurve(new Dictionary<int, double> { [8] = 2000, [32] = 1000 });
        // 16 is a third of the way from 8 to 32: 1/OP = 2/3 · 1/2000 + 1/3 · 1/1000.
        Assert.Equal(1 / (2.0 / 3 / 2000 + 1.0 / 3 / 1000), curve.At(16), 9);
        Assert.InRange(curve.At(16), 1000, 2000);
    }

    [Fact]
    public void Above_the_largest_measured_rank_the_last_slope_continues_and_below_the_smallest_it_holds()
    {
        var curve = new OperatingPointCurve(new Dictionary<int, double> { [16] = 2000, [32] = 1600 });
        double secondsPerRank = (1 / 1600.0 - 1 / 2000.0) / 16;
        Assert.Equal(1 / (1 / 1600.0 + secondsPerRank * 96), curve.At(128), 9);
        Assert.True(curve.At(128) < 1600);
        Assert.Equal(2000, curve.At(8));
        Assert.Equal(2000, curve.At(0)); // base model only: no faster than the smallest measured rank
    }

    [Fact]
    public void A_non_monotone_last_segment_is_held_flat_and_a_single_point_is_flat()
    {
        var curve = new OperatingPointCurve(new Dictionary<int, double> { [8] = 1500, [16] = 1700 });
        Assert.Equal(1700, curve.At(64));
        var single = new OperatingPointCurve(new Dictionary<int, double> { [32] = 1234 });
        Assert.Equal(1234, single.At(8));
        Assert.Equal(1234, single.At(128));
    }

    [Fact]
    public void A_measured_base_point_is_used_for_rank_zero()
    {
        var curve = new OperatingPointCurve(new Dictionary<int, double> { [0] = 3000, [8] = 2400 });
        Assert.Equal(3000, curve.At(0));
        Assert.InRange(curve.At(4), 2400, 3000);
    }

    [Fact]
    public void Empty_or_invalid_points_are_rejected_naming_the_worker()
    {
        var empty = Assert.Throws<PlacementInputException>(() => new OperatingPointCurve(new Dictionary<int, double>(), "gpu-3"));
        Assert.Contains("gpu-3", empty.Message);
        Assert.Throws<PlacementInputException>(() => new OperatingPointCurve(new Dictionary<int, double> { [8] = 0 }));
        Assert.Throws<PlacementInputException>(() => new OperatingPointCurve(new Dictionary<int, double> { [8] = double.NaN }));
        Assert.Throws<PlacementInputException>(() => new OperatingPointCurve(new Dictionary<int, double> { [-8] = 100 }));
    }
}
