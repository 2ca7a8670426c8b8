namespace LoRAQueue.Workloads.Tests;

/// <summary>
/// The real traces (SOURCES.md) live outside the repository, in $LORAQUEUE_TRACE_DATA or /work/shared/data. Tests that
/// read them are skipped, saying why, where the file is absent; nothing in the suite needs them.
/// </summary>
public static class SharedData
{
    public static string Directory =>
        Environment.GetEnvironmentVariable("LORAQUEUE_TRACE_DATA") is { Length: > 0 } dir ? dir : "/work/shared/data";

    public static string PathOf(string file) => System.IO.Path.Combine(Directory, file);
}

/// <summary>A fact that runs only where the shared data files it names exist.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute(params string[] files)
    {
        var missing = files.Where(f => !File.Exists(SharedData.PathOf(f))).ToList();
        if (missing.Count > 0)
            Skip = $"needs {string.Join(", ", missing)} in {SharedData.Directory} (real traces are kept outside the repository; set LORAQUEUE_TRACE_DATA to their folder)";
    }
}
