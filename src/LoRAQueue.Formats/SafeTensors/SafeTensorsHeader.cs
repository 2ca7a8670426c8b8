using System.Text.Json;

namespace LoRAQueue.Formats;

/// <summary>Parses and validates the JSON header of a safetensors file. Every header is treated as hostile.</summary>
internal static class SafeTensorsHeader
{
    internal sealed record Parsed(Dictionary<string, TensorInfo> Tensors, Dictionary<string, string> Metadata);

    private sealed record RawEntry(string Name, string DType, long[] Shape, long Begin, long End);

    private const string MetadataKey = "__metadata__";

    /// <param name="json">The header bytes.</param>
    /// <param name="dataStart">Absolute file offset where the data section starts (8 + header length).</param>
    /// <param name="dataLength">Bytes in the data section.</param>
    public static Parsed Parse(ReadOnlySpan<byte> json, long dataStart, long dataLength, string path, SafeTensorsLimits limits)
    {
        var entries = new List<RawEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            ReadDocument(json, path, limits, entries, metadata);
        }
        catch (JsonException e)
        {
            throw new SafeTensorsException(path, null, $"header is not valid JSON ({e.Message})", e);
        }
        catch (InvalidOperationException e) // invalid UTF-8 inside a string, or a token of an unexpected kind
        {
            throw new SafeTensorsException(path, null, $"header is not valid JSON ({e.Message})", e);
        }

        var tensors = new Dictionary<string, TensorInfo>(entries.Count, StringComparer.Ordinal);
        foreach (var entry in entries)
            tensors.Add(entry.Name, Validate(entry, dataStart, dataLength, path));
        CheckNoOverlap(entries, path);
        return new Parsed(tensors, metadata);
    }

    private static void ReadDocument(ReadOnlySpan<byte> json, string path, SafeTensorsLimits limits,
                                     List<RawEntry> entries, Dictionary<string, string> metadata)
    {
        if (json.Trim((byte)' ').IsEmpty)
            throw Fail(path, null, "header is empty");
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 4 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw Fail(path, null, "header is not a JSON object");

        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string name = reader.GetString()!;
            if (!seen.Add(name))
                throw Fail(path, name, "duplicate name in header");
            reader.Read();
            if (name == MetadataKey)
            {
                ReadMetadata(ref reader, path, metadata);
                continue;
            }
            if (entries.Count >= limits.MaxTensors)
                throw Fail(path, name, $"header holds more than {limits.MaxTensors} tensors");
            entries.Add(ReadEntry(ref reader, name, path, limits));
        }
        if (reader.Read())
            throw Fail(path, null, "unexpected content after the header object");
    }

    private static void ReadMetadata(ref Utf8JsonReader reader, string path, Dictionary<string, string> metadata)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Fail(path, null, "__metadata__ must be an object mapping strings to strings");
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
                throw Fail(path, null, $"__metadata__ value of '{key}' is {reader.TokenType}, not a string");
            if (!metadata.TryAdd(key, reader.GetString()!))
                throw Fail(path, null, $"__metadata__ has the key '{key}' twice");
        }
    }

    private static RawEntry ReadEntry(ref Utf8JsonReader reader, string name, string path, SafeTensorsLimits limits)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Fail(path, name, $"entry is {reader.TokenType}, not an object with dtype, shape and data_offsets");
        string? dtype = null;
        long[]? shape = null, offsets = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string field = reader.GetString()!;
            reader.Read();
            switch (field)
            {
                case "dtype":
                    if (dtype is not null) throw Fail(path, name, "field 'dtype' appears twice");
                    if (reader.TokenType != JsonTokenType.String) throw Fail(path, name, "dtype must be a string");
                    dtype = reader.GetString()!;
                    break;
                case "shape":
                    if (shape is not null) throw Fail(path, name, "field 'shape' appears twice");
                    shape = ReadIntegers(ref reader, name, "shape", limits.MaxRank, path);
                    break;
                case "data_offsets":
                    if (offsets is not null) throw Fail(path, name, "field 'data_offsets' appears twice");
                    offsets = ReadIntegers(ref reader, name, "data_offsets", 2, path);
                    if (offsets.Length != 2) throw Fail(path, name, "data_offsets must hold exactly two integers [begin, end]");
                    break;
                default:
                    reader.Skip(); // unknown fields are ignored, as the reference implementation does
                    break;
            }
        }
        if (dtype is null) throw Fail(path, name, "missing field 'dtype'");
        if (shape is null) throw Fail(path, name, "missing field 'shape'");
        if (offsets is null) throw Fail(path, name, "missing field 'data_offsets'");
        return new RawEntry(name, dtype, shape, offsets[0], offsets[1]);
    }

    private static long[] ReadIntegers(ref Utf8JsonReader reader, string name, string field, int maxCount, string path)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            throw Fail(path, name, $"{field} must be an array of integers");
        var values = new List<long>(Math.Min(maxCount, 8));
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long value))
                throw Fail(path, name, $"{field} must hold only integers");
            if (value < 0)
                throw Fail(path, name, $"{field} holds the negative value {value}");
            if (values.Count == maxCount)
                throw Fail(path, name, field == "shape"
                    ? $"rank exceeds the limit of {maxCount} dimensions"
                    : $"{field} holds more than {maxCount} values");
            values.Add(value);
        }
        return values.ToArray();
    }

    private static TensorInfo Validate(RawEntry e, long dataStart, long dataLength, string path)
    {
        if (!DTypes.TryParse(e.DType, out var dtype))
            throw Fail(path, e.Name, $"unsupported dtype '{e.DType}' (supported: F32, F16, BF16)");
        if (e.Begin > e.End)
            throw Fail(path, e.Name, $"data_offsets begin {e.Begin} is after end {e.End}");
        if (e.End > dataLength)
            throw Fail(path, e.Name, $"data_offsets [{e.Begin}, {e.End}] run past the end of the data section ({dataLength} bytes)");

        long expectedBytes;
        try
        {
            long elements = 1;
            foreach (long dim in e.Shape)
                elements = checked(elements * dim);
            expectedBytes = checked(elements * DTypes.SizeOf(dtype));
        }
        catch (OverflowException)
        {
            throw Fail(path, e.Name, $"shape [{string.Join(", ", e.Shape)}] overflows a 64-bit byte count");
        }
        long byteLength = e.End - e.Begin;
        if (expectedBytes != byteLength)
            throw Fail(path, e.Name,
                $"shape [{string.Join(", ", e.Shape)}] of {e.DType} needs {expectedBytes} bytes but data_offsets span {byteLength}");
        return new TensorInfo(e.Name, dtype, e.Shape, dataStart + e.Begin, byteLength);
    }

    private static void CheckNoOverlap(List<RawEntry> entries, string path)
    {
        var sorted = entries.Where(e => e.End > e.Begin).ToArray(); // empty tensors own no bytes
        Array.Sort(sorted, (a, b) => a.Begin.CompareTo(b.Begin));
        for (int i = 1; i < sorted.Length; i++)
        {
            var previous = sorted[i - 1];
            var current = sorted[i];
            if (current.Begin < previous.End)
                throw Fail(path, current.Name,
                    $"data_offsets [{current.Begin}, {current.End}] overlap tensor '{previous.Name}' at [{previous.Begin}, {previous.End}]");
        }
    }

    private static SafeTensorsException Fail(string path, string? tensor, string reason) => new(path, tensor, reason);
}
