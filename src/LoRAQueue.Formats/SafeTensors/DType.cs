namespace LoRAQueue.Formats;

/// <summary>Element types this project reads and writes in safetensors files.</summary>
public enum DType { F32, F16, BF16 }

public static class DTypes
{
    public static int SizeOf(DType dtype) => dtype switch
    {
        DType.F32 => 4,
        DType.F16 => 2,
        DType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>Parses a safetensors dtype name ("F32", "F16", "BF16"); other names throw <see cref="SafeTensorsException"/>.</summary>
    public static DType Parse(string s) =>
        TryParse(s, out var dtype)
            ? dtype
            : throw new SafeTensorsException($"unsupported dtype '{s}' (supported: F32, F16, BF16)");

    public static bool TryParse(string? s, out DType dtype)
    {
        switch (s)
        {
            case "F32": dtype = DType.F32; return true;
            case "F16": dtype = DType.F16; return true;
            case "BF16": dtype = DType.BF16; return true;
            default: dtype = default; return false;
        }
    }

    public static string Name(DType dtype) => dtype switch
    {
        DType.F32 => "F32",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };
}
