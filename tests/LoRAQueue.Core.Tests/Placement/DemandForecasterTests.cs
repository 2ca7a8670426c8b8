using LoRAQueue.Core.Placement;

namespace LoRAQueue.Core.Tests.Placement;

public class DemandForecasterTests
{
    private readonly DemandForecaster _forecaster = new();

    [Fact]
    public void Steady_demand_forecasts_the_same_level()
    {
        Assert.Equal(120, _forecaster.Forecast([120, 120, 120, 120, 120]), 9);
    }

    [Fact]
    public void A_linear_trend_is_extrapolated_one_window_ahead()
    {
        Assert.Equal(150, _forecaster.Forecast([100, 110, 120, 130, 140]), 9);
        Assert.Equal(50, _forecaster.Forecast([90, 80, 70, 60]), 9);
        Assert.Equal(0, _forecaster.Forecast([40, 30, 20, 10, 0])); // never below zero
    }

    [Theory]
    [InlineData(4)] // the latest window
    [InlineData(2)] // one in the middle
    [InlineData(0)] // the oldest
    public void A_single_burst_window_does_not_move_the_forecast(int burstAt)
    {
        var steady = new double[] { 100, 100, 100, 100, 100 };
        steady[burstAt] = 1000;
        Assert.Equal(100, _forecaster.Forecast(steady), 9);

        var rising = new double[] { 100, 110, 120, 130, 140 };
        rising[burstAt] = 2000;
        Assert.Equal(150, _forecaster.Forecast(rising), 9);
    }

    [Fact]
    public void A_lasting_level_shift_is_followed_within_a_few_windows()
    {
        var windows = new List<double> { 100, 100, 100, 100, 100 };
        var forecasts = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            windows.Add(300);
            forecasts.Add(_forecaster.Forecast(windows));
        }
        Assert.True(forecasts[0] < 150, $"one high window is treated as a burst ({forecasts[0]})");
        Assert.True(forecasts[2] >= 270, $"three high windows are a new level ({forecasts[2]})");
        Assert.Equal(300, forecasts[4], 9);
    }

    [Fact]
    public void Drift_is_tracked_without_the_lag_of_a_window_mean()
    {
        // Popularity rising then falling (demand moving between rank groups), ±10 % noise.
        var (theilSen, lastWindow, windowMean) = Errors(burstProbability: 0);
        Assert.True(theilSen < 0.7 * windowMean, $"Theil–Sen {theilSen:F0} vs mean of the windows {windowMean:F0}");
        Assert.True(theilSen < 1.2 * lastWindow, $"Theil–Sen {theilSen:F0} vs last window {lastWindow:F0}");
    }

    [Fact]
    public void Drift_with_bursts_is_tracked_far_better_than_by_the_last_window()
    {
        // The same drift with one window in ten a 5× burst: the last window is thrown by every burst.
        var (theilSen, lastWindow, _) = Errors(burstProbability: 0.1);
        Assert.True(theilSen < 0.6 * lastWindow, $"Theil–Sen {theilSen:F0} vs last window {lastWindow:F0}");
    }

    /// <summary>Summed one-window-ahead absolute errors of the forecaster, the last window, and the mean of the last
    /// five windows, over 20 seeded runs of 60 windows.</summary>
    private (double TheilSen, double LastWindow, double WindowMean) Errors(double burstProbability)
    {
        double theilSen = 0, lastWindow = 0, windowMean = 0;
        for (int run = 0; run < 20; run++)
        {
            var random = new Random(run);
            var history = new List<double>();
            for (int t = 0; t < 60; t++)
            {
                double truth = t < 30 ? 100 + 10 * t : 400 - 10 * (t - 30);
                double observed = truth * (1 + 0.2 * (random.NextDouble() - 0.5));
                if (random.NextDouble() < burstProbability) observed *= 5;
                if (history.Count >= 5)
                {
                    theilSen += Math.Abs(_forecaster.Forecast(history) - truth);
                    lastWindow += Math.Abs(history[^1] - truth);
                    windowMean += Math.Abs(history.TakeLast(5).Average() - truth);
                }
                history.Add(observed);
            }
        }
        return (theilSen, lastWindow, windowMean);
    }

    [Fact]
    public void Short_histories_use_what_there_is()
    {
        Assert.Equal(0, _forecaster.Forecast([]));
        Assert.Equal(42, _forecaster.Forecast([42]));
        Assert.Equal(30, _forecaster.Forecast([10, 20]));
        // Only the last k windows count.
        Assert.Equal(100, new DemandForecaster(windows: 3).Forecast([1000, 5, 100, 100, 100]), 9);
    }

    [Fact]
    public void Bad_windows_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => _forecaster.Forecast([1, -2]));
        Assert.Throws<ArgumentException>(() => _forecaster.Forecast([1, double.NaN]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DemandForecaster(0));
    }

    [Fact]
    public void ApplyTo_replaces_demand_of_adapters_that_carry_windows()
    {
        var snapshot = new LoadSnapshot
        {
            Workers = [],
            Adapters =
            [
                new AdapterDemand { Id = "a", Rank = 8, DemandTps = 1, DemandWindows = [10, 20, 30] },
                new AdapterDemand { Id = "b", Rank = 8, DemandTps = 7 },
            ],
        };
        var forecast = _forecaster.ApplyTo(snapshot);
        Assert.Equal(40, forecast.Adapters[0].DemandTps, 9);
        Assert.Equal(7, forecast.Adapters[1].DemandTps);
    }
}
