using LoRAQueue.Core.Residency;
using LoRAQueue.Formats;
using Microsoft.Win32.SafeHandles;

namespace LoRAQueue.Worker.DataPlane;

/// <summary>The store of record: the adapter's files under &lt;store&gt;/&lt;id&gt;, read in the manifest's order. A file
/// whose size is not the registered one is reported as such (truncated, grown, missing) before any hashing.</summary>
public sealed class StorePullSource(string directory, IReadOnlyList<AdapterFile> files) : IPullSource
{
    public PullSourceKind Kind => PullSourceKind.Store;
    public string Name => "store";

    public async Task ReadAsync(Memory<byte> destination, CancellationToken ct)
    {
        long offset = 0;
        foreach (var file in AdapterImage.Layout(files))
        {
            string path = Path.Combine(directory, file.Path);
            if (!File.Exists(path)) throw new FileNotFoundException($"{file.Path} is missing from {directory}");
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
            long length = RandomAccess.GetLength(handle);
            if (length != file.Size)
                throw new InvalidDataException($"{file.Path} is {length:N0} bytes in the store, registered with {file.Size:N0}");
            var target = destination.Slice(checked((int)offset), checked((int)file.Size));
            for (int read = 0; read < target.Length;)
            {
                int n = await RandomAccess.ReadAsync(handle, target[read..], read, ct).ConfigureAwait(false);
                if (n == 0) throw new InvalidDataException($"{file.Path} ended after {read:N0} of {file.Size:N0} bytes");
                read += n;
            }
            offset += file.Size;
        }
    }
}
