using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoRAQueue.Gateway;

/// <summary>The API's JSON: snake_case names, enums as snake_case strings. Request bodies are read strictly
/// (an unknown field is an error, so a typo like "max_token" is reported instead of silently ignored).</summary>
public static class GatewayJson
{
    public static void Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null; // metadata keys are the caller's, kept as given
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
    }

    public static JsonSerializerOptions Response { get; } = Create(strict: false);

    public static JsonSerializerOptions Request { get; } = Create(strict: true);

    private static JsonSerializerOptions Create(bool strict)
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        Configure(options);
        if (strict) options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.MaxDepth = 16;
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    /// <summary>Deserializes a request body, turning every way it can be wrong into a message for the caller.</summary>
    public static T Parse<T>(ReadOnlySpan<byte> utf8, string what) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(utf8, Request)
                ?? throw new RequestException(Problems.InvalidJson($"{what} must be a JSON object, not null"));
        }
        catch (JsonException e)
        {
            throw new RequestException(Problems.InvalidJson(Describe(e, what)));
        }
    }

    /// <summary>A JsonException in the caller's terms: which field, which line, no .NET type names.</summary>
    public static string Describe(JsonException e, string what)
    {
        string where = e.LineNumber switch
        {
            null => "",
            0 => $" (byte {e.BytePositionInLine + 1})",
            { } line => $" (line {line + 1}, byte {e.BytePositionInLine + 1})",
        };
        string path = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : e.Path.StartsWith("$.", StringComparison.Ordinal) ? e.Path[2..] : e.Path;
        if (e.Message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            string field = path.Length > 0 ? path : UnmappedName(e.Message);
            return $"{what} has an unknown field '{field}'{where}";
        }
        if (e.Message.Contains("could not be converted", StringComparison.Ordinal) && path.Length > 0)
            return $"{what}: field '{path}' has the wrong type or an out-of-range value{where}";
        if (e.Message.Contains("missing required properties", StringComparison.Ordinal))
            return $"{what} is missing a required field{where}";
        return $"{what} is not valid JSON{where}: {FirstSentence(e.Message)}";
    }

    private static string UnmappedName(string message)
    {
        int start = message.IndexOf('\'');
        int end = start < 0 ? -1 : message.IndexOf('\'', start + 1);
        return end > start ? message[(start + 1)..end] : "?";
    }

    private static string FirstSentence(string message)
    {
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut < 0) cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).TrimEnd('.', ' ');
    }
}
