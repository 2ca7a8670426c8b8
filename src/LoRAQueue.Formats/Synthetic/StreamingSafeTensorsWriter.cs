using System.Runtime.InteropServices;
using System.Text.Json;

namespace LoRAQueue.Formats;

/// <summary>
/// A tensor whose values are produced on demand, one chunk of <see cref="StreamingSafeTensorsWriter.ChunkElements"/>
/// at a time: <see cref="FillChunk"/> gets the chunk index and a span for that chunk's elements.
/// </summary>
internal sealed record GeneratedTensor(string Name, DType DType, long[] Shape, Action<long, Span<float>> FillChunk)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public long ByteLength => ElementCount * DTypes.SizeOf(DType);
}

/// <summary>
/// Writes a safetensors file whose tensors are generated while writing: the header is computed from the shapes
/// first, then each tensor's bytes stream to the file, so a multi-GB model never sits in memory. Chunks of one
/// batch are generated in parallel; the result does not depend on the number of threads.
/// </summary>
internal static class StreamingSafeTensorsWriter
{
    public const int ChunkElements = 1 << 20;

    /// <param name="onBytesWritten">Called after each batch with the number of tensor bytes just written.</param>
    public static void Write(string path, IReadOnlyList<GeneratedTensor> tensors, IReadOnlyDictionary<string, string>? metadata,
                             Action<long>? onBytesWritten = null)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian");
        byte[] header = BuildHeader(tensors, metadata);
        // Written under a temporary name so that a failure never leaves a truncated file under the real one.
        string temporary = path + ".partial";
        try
        {
            using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> length = stackalloc byte[8];
                BitConverter.TryWriteBytes(length, (ulong)header.Length);
                file.Write(length);
                file.Write(header);
                int batchChunks = Math.Clamp(Environment.ProcessorCount * 2, 2, 64);
                var values = new float[batchChunks * ChunkElements];
                var bytes = new byte[batchChunks * ChunkElements * sizeof(float)];
                foreach (var tensor in tensors) WriteTensor(file, tensor, values, bytes, batchChunks, onBytesWritten);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private static void WriteTensor(FileStream file, GeneratedTensor tensor, float[] values, byte[] bytes, int batchChunks,
                                    Action<long>? onBytesWritten)
    {
        long elements = tensor.ElementCount;
        long chunkCount = (elements + ChunkElements - 1) / ChunkElements;
        int elementSize = DTypes.SizeOf(tensor.DType);
        for (long first = 0; first < chunkCount; first += batchChunks)
        {
            int count = (int)Math.Min(batchChunks, chunkCount - first);
            Parallel.For(0, count, i =>
            {
                long chunk = first + i;
                int length = (int)Math.Min(ChunkElements, elements - chunk * ChunkElements);
                var span = values.AsSpan(i * ChunkElements, length);
                tensor.FillChunk(chunk, span);
                Encode(span, tensor.DType, bytes.AsSpan(i * ChunkElements * elementSize, length * elementSize));
            });
            int batchBytes = (int)(Math.Min((long)count * ChunkElements, elements - first * ChunkElements) * elementSize);
            file.Write(bytes, 0, batchBytes);
            onBytesWritten?.Invoke(batchBytes);
        }
    }

    private static void Encode(ReadOnlySpan<float> values, DType dtype, Span<byte> destination)
    {
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.AsBytes(values).CopyTo(destination);
                break;
            case DType.BF16:
                var bf16 = MemoryMarshal.Cast<byte, ushort>(destination);
                for (int i = 0; i < values.Length; i++)
                {
                    uint bits = BitConverter.SingleToUInt32Bits(values[i]);
                    bf16[i] = (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16); // round to nearest even
                }
                break;
            case DType.F16:
                var f16 = MemoryMarshal.Cast<byte, Half>(destination);
                for (int i = 0; i < values.Length; i++) f16[i] = (Half)values[i];
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unsupported dtype");
        }
    }

    private static byte[] BuildHeader(IReadOnlyList<GeneratedTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata) writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var tensor in tensors)
            {
                if (!names.Add(tensor.Name)) throw new ArgumentException($"tensor '{tensor.Name}' appears twice");
                writer.WriteStartObject(tensor.Name);
                writer.WriteString("dtype", DTypes.Name(tensor.DType));
                writer.WriteStartArray("shape");
                foreach (long dim in tensor.Shape) writer.WriteNumberValue(dim);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset += tensor.ByteLength);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        // Pad with spaces so the data starts 8-byte aligned, as the reference implementation does.
        int padded = (int)((json.Length + 7) / 8 * 8);
        var header = new byte[padded];
        json.ToArray().CopyTo(header, 0);
        header.AsSpan((int)json.Length).Fill((byte)' ');
        return header;
    }
}
