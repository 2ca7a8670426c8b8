namespace LoRAQueue.Testing;

/// <summary>A directory of files a test writes itself, deleted with everything in it on dispose.</summary>
public sealed class TempDirectory(string prefix = "loraqueue-tests-") : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

    /// <summary>Writes <paramref name="contents"/> to <paramref name="name"/> inside the directory; returns its path.</summary>
    public string File(string name, string contents)
    {
        var path = System.IO.Path.Combine(Path, name);
        System.IO.File.WriteAllText(path, contents);
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
