using System.Buffers.Binary;
using System.Text.Json;

namespace LoRAQueue.Formats;

/// <summary>Writes safetensors files: 8-byte header length, JSON header padded to 8 bytes, then the data back to back.</summary>
public static class SafeTensorsWriter
{
    public static void Write(string path, IEnumerable<TensorToWrite> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        byte[] header = BuildHeader(list, metadata);

        // Write beside the target and move into place, so a reader never sees a half-written file.
        string temporary = path + ".tmp-" + Environment.ProcessId + "-" + Environment.CurrentManagedThreadId;
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> length = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                stream.Write(length);
                stream.Write(header);
                foreach (var tensor in list)
                    stream.Write(tensor.Data.Span);
            }
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    private static byte[] BuildHeader(List<TensorToWrite> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata)
                    json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var tensor in tensors)
            {
                Check(tensor, names);
                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", DTypes.Name(tensor.DType));
                json.WriteStartArray("shape");
                foreach (long dim in tensor.Shape) json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset += tensor.Data.Length);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    private static void Check(TensorToWrite tensor, HashSet<string> names)
    {
        if (string.IsNullOrEmpty(tensor.Name) || tensor.Name == "__metadata__")
            throw new ArgumentException($"invalid tensor name '{tensor.Name}'");
        if (tensor.Shape is null)
            throw new ArgumentException($"tensor '{tensor.Name}' has no shape");
        if (!names.Add(tensor.Name))
            throw new ArgumentException($"tensor '{tensor.Name}' given twice");
        long expected = checked(TensorToWrite.ElementCount(tensor.Shape) * DTypes.SizeOf(tensor.DType));
        if (expected != tensor.Data.Length)
            throw new ArgumentException(
                $"tensor '{tensor.Name}': shape [{string.Join(", ", tensor.Shape)}] of {DTypes.Name(tensor.DType)} needs {expected} bytes but {tensor.Data.Length} were given");
    }
}
