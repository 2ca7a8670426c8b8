using LoRAQueue.Hosting;
using LoRAQueue.Testing;
using Microsoft.Extensions.Configuration;

namespace LoRAQueue.Scheduler.Tests;

/// <summary>Scheduler settings come through the options pattern: a bad one stops the host (exit 2) with one line naming the key.</summary>
public sealed class SettingsTests
{
    [Theory]
    [InlineData("LoRAQueue:Scheduler:Policy=best", "LoRAQueue:Scheduler:Policy must be one of loraserve, replicate-all, random-partition, contiguous (got 'best')")]
    [InlineData("LoRAQueue:Scheduler:WindowSeconds=0", "LoRAQueue:Scheduler:WindowSeconds must be > 0 (got 0)")]
    [InlineData("LoRAQueue:Scheduler:LeaseSeconds=soon", "LoRAQueue:Scheduler:LeaseSeconds must be a number (got 'soon')")]
    [InlineData("LoRAQueue:Scheduler:DriftThreshold=2", "LoRAQueue:Scheduler:DriftThreshold must be in (0, 1] (got 2)")]
    [InlineData("LoRAQueue:Scheduler:DemandWindows=0", "LoRAQueue:Scheduler:DemandWindows must be ≥ 1 (got 0)")]
    [InlineData("LoRAQueue:Scheduler:MinIntervalSeconds=100", "LoRAQueue:Scheduler:MinIntervalSeconds must be between 0 and WindowSeconds (60) (got 100)")]
    public async Task A_bad_setting_stops_the_scheduler_with_exit_2_and_one_line_naming_the_key(string setting, string message)
    {
        // Servers that accept no connection: settings are checked before anything connects.
        string[] args = ["--LoRAQueue:Redis:Configuration=127.0.0.1:1", "--LoRAQueue:Postgres:ConnectionString=Host=127.0.0.1;Port=1",
                         "--" + setting];
        var log = new CapturingLogger();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        int exit = await HostRunner.RunAsync("LoRAQueue.Scheduler", log, l => SchedulerHost.Build(args, l), timeout.Token);

        Assert.Equal(2, exit);
        var critical = Assert.Single(log.Lines, l => l.StartsWith("Critical", StringComparison.Ordinal));
        Assert.Contains(message, critical);
        Assert.DoesNotContain(" | ", critical);
    }

    [Fact]
    public void Seconds_keys_become_the_durations_the_scheduler_reads()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LoRAQueue:Scheduler:Id"] = "s1", ["LoRAQueue:Scheduler:Policy"] = "Replicate-All", ["LoRAQueue:Scheduler:WindowSeconds"] = "4",
            ["LoRAQueue:Scheduler:LeaseSeconds"] = "3", ["LoRAQueue:Scheduler:CheckSeconds"] = "0.5",
            ["LoRAQueue:Scheduler:MinIntervalSeconds"] = "1", ["LoRAQueue:Scheduler:DriftThreshold"] = "0.3",
        }).Build();

        var options = SchedulerOptions.From(configuration);

        Assert.Equal("s1", options.Id);
        Assert.Equal("replicate-all", options.Policy);
        Assert.Equal(TimeSpan.FromSeconds(4), options.Window);
        Assert.Equal(TimeSpan.FromSeconds(4), options.Drift.Window);
        Assert.Equal(TimeSpan.FromSeconds(3), options.LeaseTime);
        Assert.Equal(TimeSpan.FromSeconds(0.5), options.CheckInterval);
        Assert.Equal(TimeSpan.FromSeconds(1), options.Drift.MinInterval);
        Assert.Equal(0.3, options.Drift.ShareThreshold);
        Assert.Equal(5, options.DemandWindows);
    }
}
