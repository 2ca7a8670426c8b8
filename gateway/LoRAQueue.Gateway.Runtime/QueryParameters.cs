using System.Globalization;

namespace LoRAQueue.Gateway;

/// <summary>Reads query parameters by hand so a bad value gets a 400 that names the parameter and says what it expects.</summary>
public static class QueryParameters
{
    public static string? Text(this HttpRequest request, string name) =>
        request.Query.TryGetValue(name, out var values) && values.Count > 0 && !string.IsNullOrEmpty(values[^1]) ? values[^1] : null;

    public static Guid? Guid(this HttpRequest request, string name) =>
        request.Text(name) is not { } text ? null
        : System.Guid.TryParse(text, out var value) ? value
        : throw Bad($"'{name}' must be an id (a UUID), got '{text}'");

    public static DateTimeOffset? Timestamp(this HttpRequest request, string name) =>
        request.Text(name) is not { } text ? null
        : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value) ? value
        : throw Bad($"'{name}' must be an ISO 8601 timestamp such as 2025-06-01T12:00:00Z, got '{text}'");

    public static int Int(this HttpRequest request, string name, int defaultValue, int min, int max)
    {
        if (request.Text(name) is not { } text) return defaultValue;
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max
            ? value : throw Bad($"'{name}' must be a whole number from {min} to {max}, got '{text}'");
    }

    /// <summary>Parameters named "<paramref name="prefix"/>.key" as a key → value map (null when there are none).</summary>
    public static Dictionary<string, string>? Prefixed(this HttpRequest request, string prefix)
    {
        Dictionary<string, string>? map = null;
        foreach (var (key, values) in request.Query)
        {
            if (!key.StartsWith(prefix + ".", StringComparison.Ordinal) || key.Length == prefix.Length + 1) continue;
            (map ??= new Dictionary<string, string>(StringComparer.Ordinal))[key[(prefix.Length + 1)..]] = values[^1] ?? "";
        }
        return map;
    }

    public static RequestException Bad(string detail) => new(Problems.InvalidQuery(detail));
}
