using System.Globalization;
using LoRAQueue.Core.Placement;
using LoRAQueue.Hosting;
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

    /// <summary>The validated settings of section LoRAQueue:Scheduler (<see cref="SchedulerSettings"/>); a bad one throws
    /// <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> naming the key.</summary>
    public static SchedulerOptions From(IConfiguration configuration) => SectionOptions.Read<SchedulerSettings>(configuration).ToOptions();

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

/// <summary>Section LoRAQueue:Scheduler as configured (durations in seconds); <see cref="SchedulerOptions"/> derives from it.</summary>
public sealed class SchedulerSettings : ISectionOptions
{
    public static string Section => "LoRAQueue:Scheduler";
    private static readonly SchedulerOptions Defaults = new();

    public string? Id { get; set; }
    public string Policy { get; set; } = Defaults.Policy;
    public double WindowSeconds { get; set; } = Defaults.Window.TotalSeconds;
    public int DemandWindows { get; set; } = Defaults.DemandWindows;
    public double LeaseSeconds { get; set; } = Defaults.LeaseTime.TotalSeconds;
    public double CheckSeconds { get; set; } = Defaults.CheckInterval.TotalSeconds;
    public double MinIntervalSeconds { get; set; } = Defaults.Drift.MinInterval.TotalSeconds;
    public double DriftThreshold { get; set; } = Defaults.Drift.ShareThreshold;
    public long BacklogGrowth { get; set; } = Defaults.Drift.BacklogGrowth;

    public IEnumerable<string> Problems()
    {
        var problems = new List<string>();
        problems.AddRange(OptionChecks.OneOf(Section, nameof(Policy), Policy, [.. PlacementPolicies.Names]));
        problems.AddRange(OptionChecks.Positive(Section, nameof(WindowSeconds), WindowSeconds));
        problems.AddRange(OptionChecks.AtLeast(Section, nameof(LeaseSeconds), LeaseSeconds, 0.1));
        problems.AddRange(OptionChecks.Positive(Section, nameof(CheckSeconds), CheckSeconds));
        problems.AddRange(OptionChecks.AtLeast(Section, nameof(DemandWindows), DemandWindows, 1));
        if (!(MinIntervalSeconds >= 0 && MinIntervalSeconds <= WindowSeconds))
            problems.Add(string.Create(CultureInfo.InvariantCulture,
                $"{Section}:MinIntervalSeconds must be between 0 and WindowSeconds ({WindowSeconds}) (got {MinIntervalSeconds})"));
        if (!(DriftThreshold > 0 && DriftThreshold <= 1))
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"{Section}:DriftThreshold must be in (0, 1] (got {DriftThreshold})"));
        problems.AddRange(OptionChecks.AtLeast(Section, nameof(BacklogGrowth), BacklogGrowth, 1));
        return problems;
    }

    public SchedulerOptions ToOptions()
    {
        var window = TimeSpan.FromSeconds(WindowSeconds);
        return new SchedulerOptions
        {
            Id = Id is { Length: > 0 } id ? id : Defaults.Id,
            Policy = PlacementPolicies.Names.First(n => n.Equals(Policy.Trim(), StringComparison.OrdinalIgnoreCase)),
            Window = window,
            DemandWindows = DemandWindows,
            LeaseTime = TimeSpan.FromSeconds(LeaseSeconds),
            CheckInterval = TimeSpan.FromSeconds(CheckSeconds),
            Drift = new DriftSettings
            {
                Window = window,
                MinInterval = TimeSpan.FromSeconds(MinIntervalSeconds),
                ShareThreshold = DriftThreshold,
                BacklogGrowth = BacklogGrowth,
            },
        };
    }
}
