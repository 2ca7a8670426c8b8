using System.Runtime.CompilerServices;

namespace LoRAQueue.Kernels;

/// <summary>Element type of a weight matrix as stored (BF16 is used straight from the memory map).</summary>
public enum WeightType { F32, BF16 }

/// <summary>A row-major weight matrix [Rows = out, Cols = in]. The memory is not owned, only pointed at.</summary>
public readonly unsafe struct WeightMatrix
{
    readonly object? _keepAlive;   // set only by Pin: the pinned copy this matrix points into

    public WeightMatrix(void* data, WeightType type, int rows, int cols) : this(data, type, rows, cols, null) { }

    WeightMatrix(void* data, WeightType type, int rows, int cols, object? keepAlive)
    {
        if (data == null) throw new ArgumentNullException(nameof(data));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        if (type is not (WeightType.F32 or WeightType.BF16)) throw new ArgumentOutOfRangeException(nameof(type), type, "unknown weight type");
        Data = data; Type = type; Rows = rows; Cols = cols; _keepAlive = keepAlive;
    }

    public void* Data { get; }
    public WeightType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public int ElementSize => Type == WeightType.F32 ? sizeof(float) : sizeof(ushort);
    public long ByteLength => (long)Rows * Cols * ElementSize;

    /// <summary>
    /// Keeps a pinned copy (Pin/PinBf16) alive until this point. Kernels call it after their last read of
    /// <see cref="Data"/>: the JIT may otherwise treat the struct's reference field as dead once only the
    /// pointer is used, and the GC would free the copy mid-call.
    /// </summary>
    internal void KeepAlive() => GC.KeepAlive(_keepAlive);

    /// <summary>Copies F32 data into a pinned array that the returned matrix keeps alive (for tests and tools).</summary>
    public static WeightMatrix Pin(float[] data, int rows, int cols)
    {
        var pinned = CopyPinned<float>(data, rows, cols);
        return new WeightMatrix(Unsafe.AsPointer(ref pinned[0]), WeightType.F32, rows, cols, pinned);
    }

    /// <summary>Copies BF16 bit patterns into a pinned array that the returned matrix keeps alive.</summary>
    public static WeightMatrix PinBf16(ushort[] bf16Bits, int rows, int cols)
    {
        var pinned = CopyPinned<ushort>(bf16Bits, rows, cols);
        return new WeightMatrix(Unsafe.AsPointer(ref pinned[0]), WeightType.BF16, rows, cols, pinned);
    }

    static T[] CopyPinned<T>(T[] data, int rows, int cols) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        if (data.LongLength != (long)rows * cols)
            throw new ArgumentException($"data has {data.LongLength} elements, expected {rows}×{cols}", nameof(data));
        var pinned = GC.AllocateUninitializedArray<T>(data.Length, pinned: true);
        data.CopyTo(pinned, 0);
        return pinned;
    }
}
