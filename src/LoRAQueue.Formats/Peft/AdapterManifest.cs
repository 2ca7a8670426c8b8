using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace LoRAQueue.Formats;

/// <summary>One file of an adapter: its path inside the adapter directory ('/'-separated), size and SHA-256 (hex).</summary>
public sealed record AdapterFile(string Path, long Size, string Sha256);

/// <summary>
/// What an adapter's bytes are, whichever tier holds them: every regular file under its directory with its size and SHA-256,
/// and one digest over them all — the SHA-256 of the lines <c>"{sha256} {size} {path}\n"</c>, ordered by path (ordinal).
/// Two directories with the same files have the same digest; any changed, missing, added or truncated file changes it.
/// </summary>
public sealed record AdapterManifest(string Digest, long SizeBytes, IReadOnlyList<AdapterFile> Files)
{
    /// <summary>Reads and hashes every file under <paramref name="directory"/>.</summary>
    public static AdapterManifest Compute(string directory)
    {
        var root = new DirectoryInfo(directory);
        if (!root.Exists) throw new DirectoryNotFoundException($"no adapter directory at {directory}");
        var files = root.EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint })
            .Select(f => new AdapterFile(System.IO.Path.GetRelativePath(root.FullName, f.FullName).Replace('\\', '/'), f.Length, HashFile(f.FullName)))
            .OrderBy(f => f.Path, StringComparer.Ordinal)
            .ToList();
        return Of(files);
    }

    /// <summary>The manifest of <paramref name="files"/> (as a holder would describe them).</summary>
    public static AdapterManifest Of(IReadOnlyList<AdapterFile> files)
    {
        var lines = new StringBuilder();
        foreach (var f in files.OrderBy(f => f.Path, StringComparer.Ordinal))
            lines.Append(CultureInfo.InvariantCulture, $"{f.Sha256} {f.Size} {f.Path}\n");
        string digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(lines.ToString())));
        return new AdapterManifest(digest, files.Sum(f => f.Size), files);
    }

    /// <summary>Null when <paramref name="directory"/> holds exactly the bytes of <paramref name="expectedDigest"/>; otherwise
    /// what differs, in words (for the log line and the job's failure).</summary>
    public static string? Verify(string directory, string expectedDigest, IReadOnlyList<AdapterFile>? expectedFiles = null)
    {
        var actual = Compute(directory);
        if (actual.Digest == expectedDigest) return null;
        if (expectedFiles is null) return $"its files hash to {actual.Digest[..12]}…, not the registered {expectedDigest[..Math.Min(12, expectedDigest.Length)]}…";
        var expected = expectedFiles.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var found = actual.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var differences = expected.Keys.Union(found.Keys).Order(StringComparer.Ordinal).Select(path =>
            (expected.GetValueOrDefault(path), found.GetValueOrDefault(path)) switch
            {
                (null, _) => $"{path} was added",
                (_, null) => $"{path} is missing",
                var (e, f) when e.Size != f.Size => $"{path} is {f.Size} bytes, registered with {e.Size}",
                var (e, f) when e.Sha256 != f.Sha256 => $"{path} changed",
                _ => null,
            }).OfType<string>().ToList();
        return differences.Count > 0 ? string.Join("; ", differences) : $"its files hash to {actual.Digest[..12]}…";
    }

    private static string HashFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
