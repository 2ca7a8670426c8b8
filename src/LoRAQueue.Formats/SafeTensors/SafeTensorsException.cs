namespace LoRAQueue.Formats;

/// <summary>A safetensors file (or shard index) that is malformed or unsupported. The message names file, tensor and reason.</summary>
public class SafeTensorsException : FormatException
{
    public SafeTensorsException(string message) : base(message) { }

    public SafeTensorsException(string message, Exception inner) : base(message, inner) { }

    public SafeTensorsException(string filePath, string? tensorName, string reason, Exception? inner = null)
        : base(Compose(filePath, tensorName, reason), inner)
    {
        FilePath = filePath;
        TensorName = tensorName;
        Reason = reason;
    }

    public string? FilePath { get; }
    public string? TensorName { get; }
    public string? Reason { get; }

    private static string Compose(string filePath, string? tensorName, string reason) =>
        tensorName is null
            ? $"safetensors file '{filePath}': {reason}"
            : $"safetensors file '{filePath}': tensor '{tensorName}': {reason}";
}
