using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace LoRAQueue.Messaging;

/// <summary>LoRAQueue:RabbitMq:* — where the broker is and how much each consumer may prefetch by default.</summary>
public sealed record RabbitMqSettings
{
    public string Host { get; init; } = "localhost";
    public int Port { get; init; } = 5672;
    public string VirtualHost { get; init; } = "/";
    public string Username { get; init; } = "guest";
    public string Password { get; init; } = "guest";
    public int PrefetchCount { get; init; } = 16;

    public static RabbitMqSettings From(IConfiguration configuration)
    {
        var s = configuration.GetSection("LoRAQueue:RabbitMq");
        var d = new RabbitMqSettings();
        return new RabbitMqSettings
        {
            Host = NonEmpty(s["Host"]) ?? d.Host,
            Port = ConfigValues.PositiveInt(s, "Port") is { } port
                ? port <= ushort.MaxValue ? port : throw new FormatException($"configuration {s.Path}:Port = {port} is not a TCP port")
                : d.Port,
            VirtualHost = NonEmpty(s["VirtualHost"]) ?? d.VirtualHost,
            Username = NonEmpty(s["Username"]) ?? d.Username,
            Password = s["Password"] ?? d.Password,
            PrefetchCount = ConfigValues.PositiveInt(s, "PrefetchCount") ?? d.PrefetchCount,
        };
    }

    private static string? NonEmpty(string? v) => string.IsNullOrWhiteSpace(v) ? null : v.Trim();

    public override string ToString() => $"amqp://{Username}@{Host}:{Port.ToString(CultureInfo.InvariantCulture)}/{Uri.EscapeDataString(VirtualHost)}";
}

/// <summary>Reads typed values from configuration with errors that name the key.</summary>
public static class ConfigValues
{
    public static int? PositiveInt(IConfigurationSection section, string key)
    {
        var raw = section[key];
        if (string.IsNullOrWhiteSpace(raw)) return null;
        if (int.TryParse(raw.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0) return v;
        throw new FormatException($"configuration {section.Path}:{key} = '{raw}' must be a positive integer");
    }

    /// <summary>A number of seconds ≥ 0 (fractions allowed).</summary>
    public static TimeSpan? Seconds(IConfigurationSection section, string key)
    {
        var raw = section[key];
        if (string.IsNullOrWhiteSpace(raw)) return null;
        if (double.TryParse(raw.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= 0 && v <= 86_400)
            return TimeSpan.FromSeconds(v);
        throw new FormatException($"configuration {section.Path}:{key} = '{raw}' must be a number of seconds between 0 and 86400");
    }

    public static bool? Bool(IConfigurationSection section, string key)
    {
        var raw = section[key];
        if (string.IsNullOrWhiteSpace(raw)) return null;
        if (bool.TryParse(raw.Trim(), out bool v)) return v;
        throw new FormatException($"configuration {section.Path}:{key} = '{raw}' must be true or false");
    }
}
