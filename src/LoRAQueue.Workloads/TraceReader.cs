using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace LoRAQueue.Workloads;

/// <summary>
/// Reads a request trace in any format the project uses, recognised from its first line (a JSON object: Mooncake;
/// otherwise the CSV header's column names) or forced with <c>format</c>:
/// <list type="bullet">
/// <item>LoRAServe / S-LoRA CSV <c>req_id,model_dir,adapter_dir,prompt_len,output_len,req_time</c>: <c>req_time</c> in
/// seconds; the adapter is <c>adapter_dir</c>'s last path segment and its rank the number after <c>rank-</c> in it
/// (<c>llama-7b-lora-rank-16-4</c> → 16).</item>
/// <item>Azure LLM inference CSV <c>TIMESTAMP,ContextTokens,GeneratedTokens</c>: date-times (or seconds); no adapters.</item>
/// <item>Mooncake JSON lines <c>{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": […]}</c>; no adapters.</item>
/// <item>The job history export (<c>loraqueue jobs export</c>) <c>…,adapter_id,rank_bucket,…,submitted_at,prompt_tokens,output_tokens</c>:
/// ISO 8601 times; an empty adapter_id is the base model; <c>rank_bucket</c> (optional) is the rank.</item>
/// </list>
/// CSV columns may come in any order and their names in any case; blank lines are skipped. Every row that cannot be
/// read is a <see cref="TraceFormatException"/> naming the file and line. Only the first <c>maxRows</c> requests in
/// file order are read; the <see cref="Workload"/> has them sorted and relative to the earliest.
/// </summary>
public static partial class TraceReader
{
    public const string LoRAServeHeader = "req_id,model_dir,adapter_dir,prompt_len,output_len,req_time";
    public const string AzureHeader = "TIMESTAMP,ContextTokens,GeneratedTokens";
    public const string JobHistoryColumns = "submitted_at,adapter_id,prompt_tokens,output_tokens";

    private static readonly string ExpectedHeader =
        $"expected a header with {AzureHeader} (Azure LLM trace), {LoRAServeHeader} (LoRAServe), {JobHistoryColumns} (job history export) or JSON lines (Mooncake)";

    public static Workload Read(string path, int? maxRows = null, TraceFormat? format = null)
    {
        if (maxRows is { } max) ArgumentOutOfRangeException.ThrowIfLessThan(max, 1, nameof(maxRows));
        using var lines = new Lines(path);
        if (!lines.Next(out int firstLine, out string first)) throw new TraceFormatException(path, 1, "the trace holds no requests");
        var detected = format ?? DetectFrom(path, firstLine, first);
        var rows = new List<WorkloadRequest>();
        var adapters = new Dictionary<string, (int? Rank, int Line)>(StringComparer.Ordinal);
        int limit = maxRows ?? int.MaxValue;

        Func<int, string, WorkloadRequest> parse;
        if (detected == TraceFormat.Mooncake)
        {
            parse = (n, text) => MooncakeRow(path, n, text);
            rows.Add(parse(firstLine, first));
        }
        else
        {
            var header = Header.Parse(path, firstLine, first);
            parse = detected switch
            {
                TraceFormat.LoRAServe => LoRAServeRows(path, header),
                TraceFormat.Azure => AzureRows(path, header),
                TraceFormat.JobHistory => JobHistoryRows(path, header),
                _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
            };
        }
        while (rows.Count < limit && lines.Next(out int n, out string text))
        {
            var row = parse(n, text);
            if (row.AdapterId is { } id)
            {
                if (adapters.TryGetValue(id, out var seen) && seen.Rank != row.Rank)
                    throw new TraceFormatException(path, n, $"adapter '{id}' has rank {Show(row.Rank)} here but {Show(seen.Rank)} on line {seen.Line}");
                adapters.TryAdd(id, (row.Rank, n));
            }
            rows.Add(row);
        }
        if (rows.Count == 0) throw new TraceFormatException(path, firstLine, "the trace holds no requests (only a header)");

        var description = string.Create(CultureInfo.InvariantCulture,
            $"trace {Path.GetFileName(path)} ({detected.Describe()}, {(rows.Count == limit ? $"first {rows.Count}" : rows.Count.ToString(CultureInfo.InvariantCulture))} requests)");
        return new Workload(description, rows, detected);

        static string Show(int? rank) => rank?.ToString(CultureInfo.InvariantCulture) ?? "none";
    }

    /// <summary>The format of a trace file, from its first non-blank line.</summary>
    public static TraceFormat Detect(string path)
    {
        using var lines = new Lines(path);
        if (!lines.Next(out int n, out string first)) throw new TraceFormatException(path, 1, "the trace holds no requests");
        return DetectFrom(path, n, first);
    }

    private static TraceFormat DetectFrom(string path, int line, string first)
    {
        if (first.TrimStart('\uFEFF', ' ', '\t').StartsWith('{')) return TraceFormat.Mooncake;
        var header = Header.Parse(path, line, first);
        if (header.Has("adapter_dir") && header.Has("req_time")) return TraceFormat.LoRAServe;
        if (header.Has("TIMESTAMP") && header.Has("ContextTokens")) return TraceFormat.Azure;
        if (header.Has("submitted_at") && header.Has("prompt_tokens")) return TraceFormat.JobHistory;
        throw new TraceFormatException(path, line, $"{ExpectedHeader}; found '{first.Trim()}'");
    }

    /// <summary>The adapter's rank from its name: the number after "rank-" in the last path segment, null when there is none.</summary>
    public static int? RankFromAdapterName(string adapterDir)
    {
        var name = AdapterName(adapterDir);
        return RankInName().Match(name) is { Success: true } m && int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int rank) && rank > 0
            ? rank
            : null;
    }

    /// <summary>An adapter directory's last path segment (either separator, trailing ones ignored).</summary>
    public static string AdapterName(string adapterDir)
    {
        var trimmed = adapterDir.Trim().TrimEnd('/', '\\');
        return trimmed[(trimmed.LastIndexOfAny(['/', '\\']) + 1)..];
    }

    [GeneratedRegex(@"rank-(\d+)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex RankInName();

    // ---------------------------------------------------------------- formats

    private static Func<int, string, WorkloadRequest> LoRAServeRows(string path, Header header)
    {
        int adapter = header.Require("adapter_dir", TraceFormat.LoRAServe), prompt = header.Require("prompt_len", TraceFormat.LoRAServe);
        int output = header.Require("output_len", TraceFormat.LoRAServe), time = header.Require("req_time", TraceFormat.LoRAServe);
        return (n, text) =>
        {
            var f = header.Fields(n, text);
            var dir = f[adapter];
            if (dir.Length == 0) throw new TraceFormatException(path, n, "adapter_dir is empty (every LoRAServe row names its adapter)");
            var name = AdapterName(dir);
            int rank = RankFromAdapterName(dir)
                ?? throw new TraceFormatException(path, n, $"adapter_dir '{dir}' names no rank: its last path segment needs 'rank-<r>' (e.g. llama-7b-lora-rank-16-4)");
            return new WorkloadRequest(TimeSpan.FromTicks(Seconds(path, n, f[time], "req_time")),
                Length(path, n, f[prompt], "prompt_len"), Length(path, n, f[output], "output_len"), name, rank);
        };
    }

    private static Func<int, string, WorkloadRequest> AzureRows(string path, Header header)
    {
        int time = header.Require("TIMESTAMP", TraceFormat.Azure), input = header.Require("ContextTokens", TraceFormat.Azure);
        int output = header.Require("GeneratedTokens", TraceFormat.Azure);
        return (n, text) =>
        {
            var f = header.Fields(n, text);
            return new WorkloadRequest(TimeSpan.FromTicks(Timestamp(f[time])),
                Length(path, n, f[input], "ContextTokens"), Length(path, n, f[output], "GeneratedTokens"));

            long Timestamp(string value)
            {
                if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s >= 0 && s < 1e11)
                    return Ticks(s * TimeSpan.TicksPerSecond);
                if (DateTime.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t))
                    return t.Ticks;
                throw new TraceFormatException(path, n, $"TIMESTAMP '{value}' is neither a date-time nor a number of seconds");
            }
        };
    }

    private static Func<int, string, WorkloadRequest> JobHistoryRows(string path, Header header)
    {
        int submitted = header.Require("submitted_at", TraceFormat.JobHistory), adapter = header.Require("adapter_id", TraceFormat.JobHistory);
        int prompt = header.Require("prompt_tokens", TraceFormat.JobHistory), output = header.Require("output_tokens", TraceFormat.JobHistory);
        int? bucket = header.Find("rank_bucket");
        return (n, text) =>
        {
            var f = header.Fields(n, text);
            if (!DateTimeOffset.TryParse(f[submitted], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
                throw new TraceFormatException(path, n, $"submitted_at '{f[submitted]}' is not an ISO 8601 time");
            string? id = f[adapter].Length == 0 ? null : f[adapter];
            int? rank = null;
            if (id is not null && bucket is { } b)
            {
                if (f[b].Length == 0) throw new TraceFormatException(path, n, $"rank_bucket is empty for adapter '{id}'");
                rank = int.TryParse(f[b], NumberStyles.None, CultureInfo.InvariantCulture, out int r) && r > 0
                    ? r
                    : throw new TraceFormatException(path, n, $"rank_bucket '{f[b]}' is not a whole number ≥ 1");
            }
            foreach (var (column, name) in new[] { (prompt, "prompt_tokens"), (output, "output_tokens") })
                if (f[column].Length == 0)
                    throw new TraceFormatException(path, n, $"{name} is empty (a job without token counts: `loraqueue jobs export` writes only jobs that have them)");
            return new WorkloadRequest(TimeSpan.FromTicks(at.UtcTicks), Length(path, n, f[prompt], "prompt_tokens"),
                Length(path, n, f[output], "output_tokens"), id, rank);
        };
    }

    private static WorkloadRequest MooncakeRow(string path, int line, string text)
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
        double ms = Number("timestamp");
        return new WorkloadRequest(TimeSpan.FromTicks(Ticks(ms * TimeSpan.TicksPerMillisecond)), Tokens("input_length"), Tokens("output_length"));

        double Number(string name) =>
            root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d >= 0 && d < 1e14
                ? d
                : throw new TraceFormatException(path, line, $"'{name}' must be a number ≥ 0");

        int Tokens(string name) =>
            root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n >= 0
                ? n
                : throw new TraceFormatException(path, line, $"'{name}' must be a whole number ≥ 0");
    }

    // ---------------------------------------------------------------- pieces

    private static long Ticks(double ticks) => (long)Math.Round(ticks);

    private static long Seconds(string path, int line, string value, string column) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s >= 0 && s < 1e11
            ? Ticks(s * TimeSpan.TicksPerSecond)
            : throw new TraceFormatException(path, line, $"{column} '{value}' is not a number of seconds ≥ 0");

    private static int Length(string path, int line, string value, string column) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new TraceFormatException(path, line, $"{column} '{value}' is not a whole number ≥ 0");

    /// <summary>A CSV header: where each column is (names case-insensitive) and how many fields a row has.</summary>
    private sealed class Header(string path, int line, string text, IReadOnlyList<string> names)
    {
        public static Header Parse(string path, int line, string text) =>
            Csv.Split(text) is { } names
                ? new Header(path, line, text, names)
                : throw new TraceFormatException(path, line, "a quoted field is not closed");

        public int? Find(string name) => names.ToList().FindIndex(n => n.Equals(name, StringComparison.OrdinalIgnoreCase)) is var i and >= 0 ? i : null;

        public bool Has(string name) => Find(name) is not null;

        public int Require(string name, TraceFormat format) => Find(name)
            ?? throw new TraceFormatException(path, line, format switch
            {
                TraceFormat.Azure => $"expected a header with {AzureHeader}; no column '{name}' in '{text.Trim()}'",
                TraceFormat.LoRAServe => $"expected a header with {LoRAServeHeader} (LoRAServe); no column '{name}' in '{text.Trim()}'",
                _ => $"expected a header with {JobHistoryColumns} (job history export); no column '{name}' in '{text.Trim()}'",
            });

        public string[] Fields(int n, string row)
        {
            var fields = Csv.Split(row) ?? throw new TraceFormatException(path, n, "a quoted field is not closed");
            return fields.Length == names.Count
                ? fields
                : throw new TraceFormatException(path, n, $"expected {names.Count} comma-separated fields, found {fields.Length}");
        }
    }

    /// <summary>The non-blank lines of a file with their 1-based numbers.</summary>
    private sealed class Lines : IDisposable
    {
        private readonly StreamReader _reader;
        private int _number;

        public Lines(string path)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"trace file '{path}' does not exist", path);
            _reader = new StreamReader(path);
        }

        public bool Next(out int number, out string text)
        {
            string? line;
            while ((line = _reader.ReadLine()) is not null)
            {
                _number++;
                if (string.IsNullOrWhiteSpace(line) || line == "\uFEFF") continue;
                (number, text) = (_number, line);
                return true;
            }
            (number, text) = (_number, "");
            return false;
        }

        public void Dispose() => _reader.Dispose();
    }
}
