namespace LoRAQueue.Formats;

/// <summary>
/// An adapter's files laid end to end in memory, in the manifest's order (by path): what a worker's host cache holds and
/// what peers read. The memory belongs to the caller and must stay alive and unchanged while this is used.
/// </summary>
public sealed unsafe class AdapterImage
{
    private readonly byte* _start;
    private readonly Dictionary<string, (long Offset, long Size)> _files = new(StringComparer.Ordinal);

    public AdapterImage(string name, byte* start, IReadOnlyList<AdapterFile> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        Name = name;
        _start = start;
        long offset = 0;
        foreach (var file in Layout(files))
        {
            _files[file.Path] = (offset, file.Size);
            offset += file.Size;
        }
        SizeBytes = offset;
    }

    public string Name { get; }
    public long SizeBytes { get; }

    /// <summary>The order files are laid out in: by path, ordinal (the manifest's order).</summary>
    public static IReadOnlyList<AdapterFile> Layout(IReadOnlyList<AdapterFile> files) =>
        [.. files.OrderBy(f => f.Path, StringComparer.Ordinal)];

    public bool TryGet(string path, out byte* bytes, out long length)
    {
        if (_files.TryGetValue(path, out var file))
        {
            bytes = _start + file.Offset;
            length = file.Size;
            return true;
        }
        bytes = null;
        length = 0;
        return false;
    }
}
