using System.Globalization;
using LoRAQueue.Hosting;

namespace LoRAQueue.Messaging;

/// <summary>LoRAQueue:RabbitMq:* — where the broker is and how much each consumer may prefetch by default. Bound and
/// validated by <see cref="SectionOptions"/>.</summary>
public sealed record RabbitMqSettings : ISectionOptions
{
    public static string Section => "LoRAQueue:RabbitMq";

    public string Host { get; init; } = "localhost";
    public int Port { get; init; } = 5672;
    public string VirtualHost { get; init; } = "/";
    public string Username { get; init; } = "guest";
    public string Password { get; init; } = "guest";
    public int PrefetchCount { get; init; } = 16;

    public IEnumerable<string> Problems()
    {
        foreach (var (key, value) in new[] { (nameof(Host), Host), (nameof(VirtualHost), VirtualHost), (nameof(Username), Username) })
            if (string.IsNullOrWhiteSpace(value)) yield return $"{Section}:{key} must not be empty";
        if (Port is < 1 or > ushort.MaxValue) yield return $"{Section}:Port must be a TCP port, 1 to 65535 (got {Port})";
        foreach (var p in OptionChecks.AtLeast(Section, nameof(PrefetchCount), PrefetchCount, 1)) yield return p;
    }

    public override string ToString() => $"amqp://{Username}@{Host}:{Port.ToString(CultureInfo.InvariantCulture)}/{Uri.EscapeDataString(VirtualHost)}";
}
