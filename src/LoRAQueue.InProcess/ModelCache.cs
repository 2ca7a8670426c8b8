using LoRAQueue.Formats;

namespace LoRAQueue.InProcess;

/// <summary>Generated models reused across runs: $LORAQUEUE_CACHE or ~/.cache/loraqueue.</summary>
public static class ModelCache
{
    public static string Root =>
        Environment.GetEnvironmentVariable("LORAQUEUE_CACHE") is { Length: > 0 } dir
            ? dir
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "loraqueue");

    /// <summary>The preset's directory under <paramref name="root"/> (default <see cref="Root"/>), generating it on first use.</summary>
    public static string Ensure(string preset, IProgress<string> progress, ulong seed = 0, string? root = null)
    {
        var dir = Path.Combine(root ?? Root, "models", $"{preset}-seed{seed}");
        if (File.Exists(Path.Combine(dir, "config.json")) && Directory.EnumerateFiles(dir, "*.safetensors*").Any()) return dir;
        progress.Report($"generating the '{preset}' model into {dir} (first run only)");
        var tmp = dir + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        SyntheticModel.Create(preset, tmp, seed);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.Move(tmp, dir);
        return dir;
    }
}
