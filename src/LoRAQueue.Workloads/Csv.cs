using System.Text;

namespace LoRAQueue.Workloads;

/// <summary>
/// The little CSV the trace files need: one record per line, fields separated by commas, a field may be quoted
/// ("a,b", "" for a quote inside) as RFC 4180 has it. Fields are trimmed; a leading byte-order mark is dropped.
/// </summary>
internal static class Csv
{
    /// <summary>The fields of one line; null when a quoted field is not closed.</summary>
    public static string[]? Split(string line)
    {
        if (line.Length > 0 && line[0] == '\uFEFF') line = line[1..];
        if (!line.Contains('"')) return line.Split(',').Select(f => f.Trim()).ToArray();
        var fields = new List<string>();
        var field = new StringBuilder();
        int i = 0;
        while (true)
        {
            while (i < line.Length && line[i] == ' ') i++;
            if (i < line.Length && line[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= line.Length) return null;
                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"')
                        {
                            field.Append('"');
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    field.Append(line[i++]);
                }
                while (i < line.Length && line[i] != ',') field.Append(line[i++]); // text after the closing quote
                fields.Add(field.ToString().Trim());
            }
            else
            {
                int comma = line.IndexOf(',', i);
                int end = comma < 0 ? line.Length : comma;
                fields.Add(line[i..end].Trim());
                i = end;
            }
            field.Clear();
            if (i >= line.Length) return [.. fields];
            i++; // the comma
        }
    }

    /// <summary>A field as written: quoted when it holds a comma, a quote or surrounding spaces.</summary>
    public static string Field(string? value)
    {
        if (string.IsNullOrEmpty(value)) return "";
        if (value.Contains('\n') || value.Contains('\r'))
            throw new ArgumentException($"a CSV field of a trace cannot hold a line break: '{value}'", nameof(value));
        return value.Contains(',') || value.Contains('"') || value.Trim().Length != value.Length
            ? "\"" + value.Replace("\"", "\"\"") + "\""
            : value;
    }
}
