using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;

namespace LoRAQueue.Webhooks;

/// <summary>Webhook delivery settings, configuration section <c>LoRAQueue:Webhooks</c>.</summary>
public sealed record WebhookOptions
{
    public const string SectionName = "LoRAQueue:Webhooks";

    /// <summary>Standard Webhooks' schedule: after the immediate first attempt, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
    /// (eight attempts over about 27.6 hours).</summary>
    public static readonly TimeSpan[] DefaultRetrySchedule =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2),
        TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10),
    ];

    /// <summary>Host names allowed even if they resolve to private addresses (exact, case-insensitive).</summary>
    public string[] AllowedHosts { get; init; } = [];

    /// <summary>CIDRs ("127.0.0.0/8", "::1/128") exempt from the private-address rule.</summary>
    public string[] AllowedNetworks { get; init; } = [];

    /// <summary>Delays before attempt 2, 3, …; after the last one fails the delivery is dead.</summary>
    public TimeSpan[] RetrySchedule { get; init; } = DefaultRetrySchedule;

    /// <summary>Per attempt: connect, send and response headers.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the dispatcher looks for due deliveries and the watcher for finished batches.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    public int MaxConcurrentDeliveries { get; init; } = 8;

    /// <summary>Reads section <c>LoRAQueue:Webhooks</c> of the root configuration (or the section itself when given it).
    /// Lists are either configuration arrays or one comma-separated string; durations are "250ms", "5s", "5m", "2h",
    /// "1d" or a TimeSpan ("00:00:05"). Bad values throw with the key's name.</summary>
    public static WebhookOptions From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        IConfiguration section = configuration is IConfigurationSection { Key: "Webhooks" }
            ? configuration
            : configuration.GetSection(SectionName);
        var defaults = new WebhookOptions();
        var options = new WebhookOptions
        {
            AllowedHosts = ReadList(section, nameof(AllowedHosts)) ?? defaults.AllowedHosts,
            AllowedNetworks = ReadList(section, nameof(AllowedNetworks)) ?? defaults.AllowedNetworks,
            RetrySchedule = ReadList(section, nameof(RetrySchedule))?.Select(v => ParseDuration(nameof(RetrySchedule), v)).ToArray()
                            ?? defaults.RetrySchedule,
            Timeout = ReadDuration(section, nameof(Timeout)) ?? defaults.Timeout,
            PollInterval = ReadDuration(section, nameof(PollInterval)) ?? defaults.PollInterval,
            MaxConcurrentDeliveries = ReadInt(section, nameof(MaxConcurrentDeliveries)) ?? defaults.MaxConcurrentDeliveries,
        };
        options.Validate();
        return options;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    internal void Validate()
    {
        if (Timeout <= TimeSpan.Zero) throw Bad(nameof(Timeout), "must be positive");
        if (PollInterval <= TimeSpan.Zero) throw Bad(nameof(PollInterval), "must be positive");
        if (MaxConcurrentDeliveries < 1) throw Bad(nameof(MaxConcurrentDeliveries), "must be at least 1");
        if (RetrySchedule.Any(d => d < TimeSpan.Zero)) throw Bad(nameof(RetrySchedule), "delays must not be negative");
        foreach (string network in AllowedNetworks)
            if (!IPNetwork.TryParse(network, out _))
                throw Bad(nameof(AllowedNetworks), $"'{network}' is not a CIDR such as 127.0.0.0/8 or ::1/128");
        if (AllowedHosts.Any(string.IsNullOrWhiteSpace)) throw Bad(nameof(AllowedHosts), "host names must not be empty");
    }

    private static ArgumentException Bad(string key, string why) => new($"{SectionName}:{key} {why}");

    private static string[]? ReadList(IConfiguration section, string key)
    {
        var child = section.GetSection(key);
        if (child.Value is { } single)
            return single.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var items = child.GetChildren().Select(c => c.Value?.Trim()).OfType<string>().Where(v => v.Length > 0).ToArray();
        return items.Length == 0 ? null : items;
    }

    private static TimeSpan? ReadDuration(IConfiguration section, string key) =>
        section[key] is { Length: > 0 } value ? ParseDuration(key, value) : null;

    private static int? ReadInt(IConfiguration section, string key) =>
        section[key] is not { Length: > 0 } value ? null
        : int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int parsed) ? parsed
        : throw Bad(key, $"'{value}' is not an integer");

    /// <summary>"250ms", "5s", "5m", "2h", "1d", or a TimeSpan in invariant format.</summary>
    internal static TimeSpan ParseDuration(string key, string text)
    {
        string value = text.Trim();
        (string unit, double scale)[] units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];
        foreach (var (unit, scale) in units)
        {
            if (!value.EndsWith(unit, StringComparison.OrdinalIgnoreCase)) continue;
            string number = value[..^unit.Length];
            if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double amount) && amount >= 0)
                return TimeSpan.FromMilliseconds(amount * scale);
            break; // a number with a unit that does not parse is not a TimeSpan either
        }
        if (TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out var span)) return span;
        throw Bad(key, $"'{text}' is not a duration (e.g. 250ms, 5s, 5m, 2h, 1d or 00:00:05)");
    }
}
