using System.Globalization;
using System.Text.RegularExpressions;
using LoRAQueue.History;

namespace LoRAQueue.Cli.Commands;

/// <summary>Parses the user's job filters into a <see cref="JobQuery"/>; anything unreadable is a <see cref="CliException"/>.</summary>
internal static partial class JobFilters
{
    public static JobStatus? Status(string? value)
    {
        if (value is null) return null;
        try
        {
            return JobStatuses.Parse(value.Trim());
        }
        catch (FormatException e)
        {
            throw new CliException($"--status {e.Message}");
        }
    }

    /// <summary>An ISO 8601 time (UTC unless it says otherwise) or an age before <paramref name="now"/>: 90s, 30m, 2h, 7d.</summary>
    public static DateTimeOffset? Time(string? value, string option, DateTimeOffset now)
    {
        if (value is null) return null;
        var text = value.Trim();
        if (Age().Match(text) is { Success: true } age)
        {
            double amount = double.Parse(age.Groups[1].Value, CultureInfo.InvariantCulture);
            var span = age.Groups[2].Value switch
            {
                "s" => TimeSpan.FromSeconds(amount),
                "m" => TimeSpan.FromMinutes(amount),
                "h" => TimeSpan.FromHours(amount),
                _ => TimeSpan.FromDays(amount),
            };
            return now - span;
        }
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)) return time;
        throw new CliException($"{option} '{value}' is not a time: use ISO 8601 (2025-06-01T12:00:00Z) or an age such as 30m, 2h, 7d");
    }

    public static int Limit(int value) => value is >= 1 and <= JobQuery.MaxLimit
        ? value
        : throw new CliException($"--limit must be 1 to {JobQuery.MaxLimit} (got {value})");

    public static Guid JobId(string value) => Guid.TryParse(value.Trim(), out var id)
        ? id
        : throw new CliException($"'{value}' is not a job id (a GUID such as 3f2b8c1e-0000-4000-8000-000000000000)");

    [GeneratedRegex(@"^(\d{1,6}(?:\.\d+)?)([smhd])$")]
    private static partial Regex Age();
}
