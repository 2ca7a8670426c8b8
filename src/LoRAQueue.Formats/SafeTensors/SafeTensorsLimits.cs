namespace LoRAQueue.Formats;

/// <summary>Bounds applied while parsing an untrusted header.</summary>
public sealed class SafeTensorsLimits
{
    public long MaxHeaderBytes { get; set; } = 100L * 1024 * 1024;
    public int MaxTensors { get; set; } = 1_000_000;
    public int MaxRank { get; set; } = 8;
}
