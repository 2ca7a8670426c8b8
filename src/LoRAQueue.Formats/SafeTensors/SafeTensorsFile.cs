using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;

namespace LoRAQueue.Formats;

/// <summary>
/// A safetensors file mapped into memory (or already in memory: <see cref="FromMemory"/>). The header is validated on
/// open; tensor data is read in place through a pointer acquired once, valid until <see cref="Dispose"/>.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    private readonly MemoryMappedFile? _mapping;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private bool _disposed;

    private SafeTensorsFile(string path, MemoryMappedFile? mapping, MemoryMappedViewAccessor? view, byte* basePointer,
                            long length, SafeTensorsHeader.Parsed header)
    {
        Path = path;
        _mapping = mapping;
        _view = view;
        _base = basePointer;
        FileLength = length;
        Tensors = header.Tensors;
        Metadata = header.Metadata;
    }

    public string Path { get; }
    public long FileLength { get; }
    public IReadOnlyDictionary<string, TensorInfo> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Maps <paramref name="path"/> read-only and validates its header against <paramref name="limits"/>.</summary>
    public static SafeTensorsFile Open(string path, SafeTensorsLimits? limits = null)
    {
        limits ??= new SafeTensorsLimits();
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        long length = stream.Length;
        if (length < 8)
        {
            stream.Dispose();
            throw new SafeTensorsException(path, null, $"file is {length} bytes, shorter than the 8-byte header length");
        }

        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        bool pointerAcquired = false;
        try
        {
            mapping = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read,
                                                      HandleInheritability.None, leaveOpen: false);
            view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            pointerAcquired = true;
            pointer += view.PointerOffset;

            var header = ParseHeader(pointer, length, path, limits);
            return new SafeTensorsFile(path, mapping, view, pointer, length, header);
        }
        catch
        {
            if (pointerAcquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            if (mapping is null) stream.Dispose();
            else mapping.Dispose();
            throw;
        }
    }

    /// <summary>Reads a safetensors image of <paramref name="length"/> bytes at <paramref name="start"/>, memory the caller
    /// keeps alive (and unchanged) until this is disposed; <paramref name="name"/> names it in errors.</summary>
    public static SafeTensorsFile FromMemory(byte* start, long length, string name, SafeTensorsLimits? limits = null)
    {
        if (length < 8) throw new SafeTensorsException(name, null, $"file is {length} bytes, shorter than the 8-byte header length");
        var header = ParseHeader(start, length, name, limits ?? new SafeTensorsLimits());
        return new SafeTensorsFile(name, null, null, start, length, header);
    }

    private static SafeTensorsHeader.Parsed ParseHeader(byte* pointer, long fileLength, string path, SafeTensorsLimits limits)
    {
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(pointer, 8));
        if (headerLength > (ulong)(fileLength - 8))
            throw new SafeTensorsException(path, null,
                $"header length {headerLength} runs past the end of the file ({fileLength} bytes)");
        if (headerLength > (ulong)limits.MaxHeaderBytes || headerLength > int.MaxValue)
            throw new SafeTensorsException(path, null,
                $"header length {headerLength} exceeds the limit of {limits.MaxHeaderBytes} bytes");
        var json = new ReadOnlySpan<byte>(pointer + 8, (int)headerLength);
        long dataStart = 8 + (long)headerLength;
        return SafeTensorsHeader.Parse(json, dataStart, fileLength - dataStart, path, limits);
    }

    public TensorInfo Info(string name) =>
        Tensors.TryGetValue(name, out var info)
            ? info
            : throw new KeyNotFoundException($"safetensors file '{Path}' has no tensor '{name}'");

    public bool Contains(string name) => Tensors.ContainsKey(name);

    /// <summary>Pointer to the tensor's bytes inside the mapping (no copy), valid until Dispose.</summary>
    public byte* GetPointer(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _base + Info(name).DataOffset;
    }

    /// <summary>The tensor's bytes inside the mapping (no copy). Tensors over 2 GiB need <see cref="GetPointer"/>.</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var info = Info(name);
        if (info.ByteLength > int.MaxValue)
            throw new InvalidOperationException($"tensor '{name}' in '{Path}' is {info.ByteLength} bytes, too large for a span; use GetPointer");
        return new ReadOnlySpan<byte>(GetPointer(name), (int)info.ByteLength);
    }

    /// <summary>Copies the tensor into a new float array, converting F16/BF16.</summary>
    public float[] ReadFloat32(string name)
    {
        var info = Info(name);
        if (info.ElementCount > Array.MaxLength)
            throw new InvalidOperationException($"tensor '{name}' in '{Path}' has {info.ElementCount} elements, too many for one array");
        var values = new float[info.ElementCount];
        byte* source = GetPointer(name);
        int elementSize = DTypes.SizeOf(info.DType);
        const int chunk = 1 << 26; // elements per span, keeps byte spans under 2 GiB
        for (long start = 0; start < values.LongLength; start += chunk)
        {
            int count = (int)Math.Min(chunk, values.LongLength - start);
            var bytes = new ReadOnlySpan<byte>(source + start * elementSize, count * elementSize);
            FloatConversion.ToFloat32(bytes, info.DType, values.AsSpan((int)start, count));
        }
        return values;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_view is null) return; // in memory: the caller owns it
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mapping!.Dispose();
    }
}
