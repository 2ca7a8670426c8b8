namespace LoRAQueue.Workloads;

/// <summary>A trace (or data file) row that cannot be read; the message is "file:line: what is wrong".</summary>
public sealed class TraceFormatException(string path, int line, string reason)
    : FormatException($"{System.IO.Path.GetFileName(path)}:{line}: {reason}")
{
    /// <summary>The file as it was given.</summary>
    public string Path { get; } = path;
    /// <summary>1-based line number in the file.</summary>
    public int Line { get; } = line;
    /// <summary>What is wrong, without the file and line.</summary>
    public string Reason { get; } = reason;
}
