using System.Globalization;
using System.Text.Json;

namespace LoRAQueue.Cli.Demo;

/// <summary>One request of a recorded trace: when it arrived (from the trace's first request) and its token lengths.</summary>
internal sealed record TraceRequest(TimeSpan Arrival, int InputTokens, int OutputTokens);

/// <summary>A trace row that cannot be read; the message is "file:line: what is wrong".</summary>
internal sealed class TraceFormatException(string path, int line, string reason)
    : FormatException($"{Path.GetFileName(path)}:{line}: {reason}")
{
    public int Line { get; } = line;
}

/// <summary>
/// Reads the first rows of a request trace in either of the formats the field publishes:
/// Azure LLM inference CSV (<c>TIMESTAMP,ContextTokens,GeneratedTokens</c>, timestamps as date-times) or Mooncake
/// JSON lines (<c>{"timestamp": ms, "input_length": n, "output_length": n, ...}</c>). Arrivals come back sorted and
/// relative to the earliest request read.
/// </summary>
internal static class TraceFile
{
    public static IReadOnlyList<TraceRequest> Read(string path, int maxRows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        if (!File.Exists(path)) throw new FileNotFoundException($"trace file '{path}' does not exist", path);
        var rows = new List<(long Ticks, int Input, int Output)>();
        using (var reader = new StreamReader(path))
        {
            int lineNumber = 0;
            string? line;
            CsvColumns? csv = null;
            bool? jsonLines = null;
            while (rows.Count < maxRows && (line = reader.ReadLine()) is not null)
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                jsonLines ??= line.TrimStart().StartsWith('{');
                if (jsonLines.Value)
                {
                    rows.Add(ReadJsonLine(path, lineNumber, line));
                }
                else if (csv is null)
                {
                    csv = CsvColumns.FromHeader(path, lineNumber, line);
                }
                else
                {
                    rows.Add(csv.Read(path, lineNumber, line));
                }
            }
        }
        if (rows.Count == 0) throw new TraceFormatException(path, 1, "the trace holds no requests");
        long first = rows.Min(r => r.Ticks);
        return rows.Select(r => new TraceRequest(TimeSpan.FromTicks(r.Ticks - first), r.Input, r.Output))
                   .OrderBy(r => r.Arrival).ToList();
    }

    private static (long, int, int) ReadJsonLine(string path, int line, string text)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(text);
            root = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new TraceFormatException(path, line, $"not a JSON object: {e.Message}");
        }
        if (root.ValueKind != JsonValueKind.Object) throw new TraceFormatException(path, line, "not a JSON object");
        double ms = Number(root, "timestamp");
        return (Ticks(ms * TimeSpan.TicksPerMillisecond), Length(root, "input_length"), Length(root, "output_length"));

        double Number(JsonElement o, string name) =>
            o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d >= 0 && d < 1e14
                ? d
                : throw new TraceFormatException(path, line, $"'{name}' must be a number ≥ 0");

        int Length(JsonElement o, string name) =>
            o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n >= 0
                ? n
                : throw new TraceFormatException(path, line, $"'{name}' must be a whole number ≥ 0");
    }

    private static long Ticks(double ticks) => (long)Math.Round(ticks);

    /// <summary>Where the three columns are in an Azure-style CSV (any order, names case-insensitive).</summary>
    private sealed class CsvColumns(int timestamp, int input, int output, int count)
    {
        public static CsvColumns FromHeader(string path, int line, string header)
        {
            var names = header.Split(',').Select(n => n.Trim()).ToList();
            int Find(string name) => names.FindIndex(n => n.Equals(name, StringComparison.OrdinalIgnoreCase)) is var i and >= 0
                ? i
                : throw new TraceFormatException(path, line,
                    $"expected a header with TIMESTAMP,ContextTokens,GeneratedTokens (Azure LLM trace) or JSON lines (Mooncake); no column '{name}' in '{header}'");
            return new CsvColumns(Find("TIMESTAMP"), Find("ContextTokens"), Find("GeneratedTokens"), names.Count);
        }

        public (long, int, int) Read(string path, int line, string text)
        {
            var fields = text.Split(',');
            if (fields.Length != count)
                throw new TraceFormatException(path, line, $"expected {count} comma-separated fields, found {fields.Length}");
            return (TimeTicks(fields[timestamp].Trim()), Length(fields[input].Trim(), "ContextTokens"), Length(fields[output].Trim(), "GeneratedTokens"));

            long TimeTicks(string value)
            {
                if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s >= 0 && s < 1e11)
                    return Ticks(s * TimeSpan.TicksPerSecond);
                if (DateTime.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t))
                    return t.Ticks;
                throw new TraceFormatException(path, line, $"TIMESTAMP '{value}' is neither a date-time nor a number of seconds");
            }

            int Length(string value, string column) =>
                int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n)
                    ? n
                    : throw new TraceFormatException(path, line, $"{column} '{value}' is not a whole number ≥ 0");
        }
    }
}
