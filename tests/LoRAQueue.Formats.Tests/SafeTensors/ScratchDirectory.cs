using System.Buffers.Binary;
using System.Text;

namespace LoRAQueue.Formats.Tests.SafeTensors;

/// <summary>A temporary directory removed on dispose.</summary>
public sealed class ScratchDirectory : IDisposable
{
    public ScratchDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "loraqueue-formats-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Subdirectory(string name) => Directory.CreateDirectory(File(name)).FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { } // best effort: a mapping still open on some platforms
    }
}

/// <summary>Hand-built safetensors bytes for hostile-header tests.</summary>
public static class RawSafeTensors
{
    public static byte[] Build(string headerJson, int dataBytes, ulong? declaredHeaderLength = null)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredHeaderLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        for (int i = 0; i < dataBytes; i++)
            bytes[8 + header.Length + i] = (byte)i;
        return bytes;
    }
}
