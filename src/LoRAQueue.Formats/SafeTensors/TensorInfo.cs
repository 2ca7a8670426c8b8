namespace LoRAQueue.Formats;

/// <summary>One tensor of a safetensors file. <see cref="DataOffset"/> is an absolute offset into the file.</summary>
public sealed record TensorInfo(string Name, DType DType, long[] Shape, long DataOffset, long ByteLength)
{
    public long ElementCount => ByteLength / DTypes.SizeOf(DType);

    public override string ToString() => $"{Name} {DTypes.Name(DType)}[{string.Join(", ", Shape)}]";
}
