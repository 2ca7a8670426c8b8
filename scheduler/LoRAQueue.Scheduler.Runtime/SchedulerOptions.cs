using System.Globalization;
using LoRAQueue.Core.Placement;
using Microsoft.Extensions.Configuration;

namespace LoRAQueue.Scheduler;

/// <summary>Scheduler settings, section LoRAQueue:Scheduler (env LORAQUEUE__SCHEDULER__KEY).</summary>
public sealed record SchedulerOptions
{
    /// <summary>Holder id written into the lease; unique per process.</summary>
    public string Id { get; init; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid():N}";
    public string Policy { get; init; } = "loraserve";
    /// <summary>Regular placement period and the length of one demand window.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Demand windows read per placement (the forecaster's history).</summary>
    public int DemandWindows { get; init; } = 5;
    public TimeSpan LeaseTime { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>How often drift is checked (and the lease polled by a standby).</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(5);
    public DriftSettings Drift { get; init; } = new();

    public static SchedulerOptions From(IConfiguration configuration)
    {
        var s = configuration.GetSection("LoRAQueue:Scheduler");
        var defaults = new SchedulerOptions();
        TimeSpan Seconds(string key, TimeSpan fallback) => s[key] is { Length: > 0 } v
            ? TimeSpan.FromSeconds(double.Parse(v, CultureInfo.InvariantCulture)) : fallback;
        double Number(string key, double fallback) => s[key] is { Length: > 0 } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
        var window = Seconds("WindowSeconds", defaults.Window);
        var options = new SchedulerOptions
        {
            Id = s["Id"] is { Length: > 0 } id ? id : defaults.Id,
            Policy = s["Policy"] is { Length: > 0 } p ? p : defaults.Policy,
            Window = window,
            DemandWindows = (int)Number("DemandWindows", defaults.DemandWindows),
            LeaseTime = Seconds("LeaseSeconds", defaults.LeaseTime),
            CheckInterval = Seconds("CheckSeconds", defaults.CheckInterval),
            Drift = new DriftSettings
            {
                Window = window,
                MinInterval = Seconds("MinIntervalSeconds", defaults.Drift.MinInterval),
                ShareThreshold = Number("DriftThreshold", defaults.Drift.ShareThreshold),
                BacklogGrowth = (long)Number("BacklogGrowth", defaults.Drift.BacklogGrowth),
            },
        };
        options.Validate();
        return options;
    }

    public void Validate()
    {
        if (Window <= TimeSpan.Zero) throw new FormatException("LoRAQueue:Scheduler:WindowSeconds must be > 0");
        if (LeaseTime < TimeSpan.FromMilliseconds(100)) throw new FormatException("LoRAQueue:Scheduler:LeaseSeconds must be ≥ 0.1");
        if (CheckInterval <= TimeSpan.Zero) throw new FormatException("LoRAQueue:Scheduler:CheckSeconds must be > 0");
        if (DemandWindows < 1) throw new FormatException("LoRAQueue:Scheduler:DemandWindows must be ≥ 1");
        Drift.Validate();
    }

    /// <summary>Demand is read in whole windows of whole buckets, no further back than Redis keeps it.</summary>
    public void ValidateAgainst(LoRAQueue.LoadState.LoadStateOptions loadState)
    {
        if (Window.Ticks % loadState.DemandBucket.Ticks != 0)
            throw new FormatException($"LoRAQueue:Scheduler:WindowSeconds ({Window.TotalSeconds} s) must be a multiple of " +
                                      $"LoRAQueue:LoadState:DemandBucketSeconds ({loadState.DemandBucket.TotalSeconds} s)");
        if (Window * DemandWindows > loadState.DemandRetention)
            throw new FormatException($"{DemandWindows} demand windows of {Window.TotalSeconds} s reach further back than " +
                                      $"LoRAQueue:LoadState:DemandRetentionSeconds ({loadState.DemandRetention.TotalSeconds} s)");
    }
}
