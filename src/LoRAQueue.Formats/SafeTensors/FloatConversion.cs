using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LoRAQueue.Formats;

/// <summary>Element conversions between the stored dtypes and float. Little-endian storage, as safetensors mandates.</summary>
public static class FloatConversion
{
    /// <summary>Converts raw tensor bytes of <paramref name="dtype"/> into floats; destination length = element count.</summary>
    public static void ToFloat32(ReadOnlySpan<byte> source, DType dtype, Span<float> destination)
    {
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case DType.F16:
                HalfToFloat32(MemoryMarshal.Cast<byte, Half>(source), destination);
                break;
            case DType.BF16:
                BFloat16ToFloat32(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype");
        }
    }

    /// <summary>Converts floats into the byte representation of <paramref name="dtype"/>.</summary>
    public static byte[] FromFloat32(ReadOnlySpan<float> values, DType dtype)
    {
        var bytes = new byte[checked(values.Length * DTypes.SizeOf(dtype))];
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.AsBytes(values).CopyTo(bytes);
                break;
            case DType.F16:
                var halves = MemoryMarshal.Cast<byte, Half>(bytes.AsSpan());
                for (int i = 0; i < values.Length; i++)
                    halves[i] = (Half)values[i];
                break;
            case DType.BF16:
                var words = MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan());
                for (int i = 0; i < values.Length; i++)
                    words[i] = ToBFloat16(values[i]);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype");
        }
        return bytes;
    }

    /// <summary>float → bfloat16 bits with round-to-nearest-even; NaN stays a (quiet) NaN.</summary>
    public static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
            return (ushort)((bits >> 16) | 0x0040);
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    public static float FromBFloat16(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    public static void HalfToFloat32(ReadOnlySpan<Half> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException("destination too short", nameof(destination));
        for (int i = 0; i < source.Length; i++)
            destination[i] = (float)source[i];
    }

    /// <summary>bfloat16 is the upper half of a float: widen and shift left by 16, a vector at a time.</summary>
    public static void BFloat16ToFloat32(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException("destination too short", nameof(destination));
        var output = MemoryMarshal.Cast<float, uint>(destination);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= source.Length - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var (lower, upper) = Vector256.Widen(Vector256.Create(source.Slice(i, Vector256<ushort>.Count)));
                (lower << 16).CopyTo(output.Slice(i));
                (upper << 16).CopyTo(output.Slice(i + Vector256<uint>.Count));
            }
        }
        for (; i < source.Length; i++)
            output[i] = (uint)source[i] << 16;
    }
}
