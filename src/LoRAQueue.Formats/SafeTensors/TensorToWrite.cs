namespace LoRAQueue.Formats;

/// <summary>A tensor to store with <see cref="SafeTensorsWriter"/>: raw little-endian bytes in <see cref="DType"/>.</summary>
public readonly record struct TensorToWrite(string Name, DType DType, long[] Shape, ReadOnlyMemory<byte> Data)
{
    /// <summary>Converts <paramref name="values"/> to <paramref name="storeAs"/> (BF16 rounds to nearest even).</summary>
    public static TensorToWrite FromFloat32(string name, ReadOnlySpan<float> values, long[] shape, DType storeAs)
    {
        long elements = ElementCount(shape);
        if (elements != values.Length)
            throw new ArgumentException(
                $"tensor '{name}': shape [{string.Join(", ", shape)}] holds {elements} elements but {values.Length} values were given",
                nameof(values));
        return new TensorToWrite(name, storeAs, shape, FloatConversion.FromFloat32(values, storeAs));
    }

    public static long ElementCount(long[] shape)
    {
        long elements = 1;
        foreach (long dim in shape)
        {
            if (dim < 0) throw new ArgumentException($"shape [{string.Join(", ", shape)}] has a negative dimension", nameof(shape));
            elements = checked(elements * dim);
        }
        return elements;
    }
}
