using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoRAQueue.Cli.Commands;

/// <summary>Machine-readable output goes to stdout as JSON; progress and tables go to stderr/stdout for people.</summary>
internal static class CliOutput
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static void WriteJson<T>(T value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>Progress lines on stderr, so that `--json` output on stdout stays parseable.</summary>
    public static IProgress<string> ProgressLines() => new SyncProgress<string>(line => Console.Error.WriteLine(line));

    /// <summary>Progress&lt;T&gt; posts to the thread pool; this one reports inline and in order.</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>Turns a library's validation exception into one clear line and exit code 1.</summary>
    public static int Fail(Exception e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 1;
    }
}
