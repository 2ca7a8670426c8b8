using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LoRAQueue.Formats.Tests.SafeTensors;

public sealed class SafeTensorsRoundTripTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static float[] Ramp(int count, float scale = 0.37f)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (i - count / 2) * scale;
        return values;
    }

    [Fact]
    public void F32_round_trips_bit_exactly_with_shapes_metadata_and_special_values()
    {
        float[] weights = [1.5f, -0.0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, 3.4e38f];
        float[] bias = Ramp(3);
        string path = _dir.File("f32.safetensors");
        SafeTensorsWriter.Write(path,
            [TensorToWrite.FromFloat32("w", weights, [2, 3], DType.F32), TensorToWrite.FromFloat32("b", bias, [3], DType.F32)],
            new Dictionary<string, string> { ["format"] = "pt" });

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(["b", "w"], file.Tensors.Keys.Order());
        Assert.Equal("pt", file.Metadata["format"]);
        var info = file.Tensors["w"];
        Assert.Equal(DType.F32, info.DType);
        Assert.Equal([2L, 3L], info.Shape);
        Assert.Equal(6, info.ElementCount);
        Assert.Equal(24, info.ByteLength);
        var read = file.ReadFloat32("w");
        Assert.Equal(weights.Select(BitConverter.SingleToInt32Bits), read.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(bias, file.ReadFloat32("b"));
    }

    [Fact]
    public void F16_round_trips_through_half_precision()
    {
        float[] values = [0f, 1f, -2.5f, 65504f, 1e-3f, 0.1f, 3.14159f];
        string path = _dir.File("f16.safetensors");
        SafeTensorsWriter.Write(path, [TensorToWrite.FromFloat32("t", values, [7], DType.F16)]);

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(DType.F16, file.Tensors["t"].DType);
        Assert.Equal(14, file.Tensors["t"].ByteLength);
        var read = file.ReadFloat32("t");
        Assert.Equal(values.Select(v => (float)(Half)v), read);
        Assert.Equal([0f, 1f, -2.5f, 65504f], read[..4]); // exactly representable values survive unchanged
        Assert.InRange(Math.Abs(read[6] - 3.14159f), 0, 2e-3f);
    }

    [Fact]
    public void BF16_rounds_to_nearest_even_and_reads_back_as_the_upper_half_of_a_float()
    {
        float halfwayDown = 1f + MathF.Pow(2, -8);      // halfway between 1 and 1+2^-7: ties to even → 1
        float halfwayUp = 1f + 3 * MathF.Pow(2, -8);    // halfway between 1+2^-7 (odd) and 1+2^-6: ties to even → 1+2^-6
        float aboveHalf = 1f + MathF.Pow(2, -8) + MathF.Pow(2, -20); // just past halfway → rounds up to 1+2^-7
        float[] values = [halfwayDown, halfwayUp, aboveHalf, -3f, float.NaN, 1e30f];
        string path = _dir.File("bf16.safetensors");
        SafeTensorsWriter.Write(path, [TensorToWrite.FromFloat32("t", values, [6], DType.BF16)]);

        using var file = SafeTensorsFile.Open(path);
        var raw = MemoryMarshal.Cast<byte, ushort>(file.GetBytes("t"));
        Assert.Equal(0x3F80, raw[0]);
        Assert.Equal(0x3F82, raw[1]);
        Assert.Equal(0x3F81, raw[2]);
        Assert.Equal(0xC040, raw[3]);
        var read = file.ReadFloat32("t");
        Assert.Equal(1f, read[0]);
        Assert.Equal(1f + MathF.Pow(2, -6), read[1]);
        Assert.Equal(1f + MathF.Pow(2, -7), read[2]);
        Assert.Equal(-3f, read[3]);
        Assert.True(float.IsNaN(read[4]));
        Assert.InRange(read[5] / 1e30f, 0.996f, 1.004f); // 8 mantissa bits
    }

    [Fact]
    public void BF16_conversion_of_a_long_tensor_matches_the_scalar_rule_in_every_lane()
    {
        var values = Ramp(1000, 0.0123f); // longer than any vector width, with a scalar tail
        string path = _dir.File("bf16-long.safetensors");
        SafeTensorsWriter.Write(path, [TensorToWrite.FromFloat32("t", values, [10, 100], DType.BF16)]);

        using var file = SafeTensorsFile.Open(path);
        var read = file.ReadFloat32("t");
        for (int i = 0; i < values.Length; i++)
            Assert.Equal(FloatConversion.FromBFloat16(FloatConversion.ToBFloat16(values[i])), read[i]);
    }

    [Fact]
    public unsafe void Pointer_reads_come_straight_from_the_mapping_without_copies()
    {
        var first = Ramp(5);
        var second = Ramp(16, 2f);
        string path = _dir.File("mapped.safetensors");
        SafeTensorsWriter.Write(path,
            [TensorToWrite.FromFloat32("first", first, [5], DType.F32), TensorToWrite.FromFloat32("second", second, [4, 4], DType.F32)]);

        using var file = SafeTensorsFile.Open(path);
        byte* firstPointer = file.GetPointer("first");
        byte* secondPointer = file.GetPointer("second");
        var span = new ReadOnlySpan<float>(secondPointer, 16);
        Assert.Equal(second, span.ToArray());
        Assert.Equal(file.Tensors["second"].DataOffset - file.Tensors["first"].DataOffset, secondPointer - firstPointer);
        Assert.True(firstPointer == (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(file.GetBytes("first"))));
        Assert.True(firstPointer == file.GetPointer("first"));
        Assert.Equal(0, file.Tensors["first"].DataOffset % 8); // the writer pads the header to 8 bytes
        Assert.Equal(new FileInfo(path).Length, file.Tensors["second"].DataOffset + file.Tensors["second"].ByteLength);
    }

    [Fact]
    public void Disposed_file_refuses_pointer_access()
    {
        string path = _dir.File("disposed.safetensors");
        SafeTensorsWriter.Write(path, [TensorToWrite.FromFloat32("t", [1f], [1], DType.F32)]);
        var file = SafeTensorsFile.Open(path);
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.ReadFloat32("t"));
    }

    [Fact]
    public void Empty_and_scalar_tensors_are_allowed()
    {
        string path = _dir.File("edge.safetensors");
        SafeTensorsWriter.Write(path,
            [TensorToWrite.FromFloat32("empty", [], [0, 4], DType.F32), TensorToWrite.FromFloat32("scalar", [7f], [], DType.BF16)]);
        using var file = SafeTensorsFile.Open(path);
        Assert.Empty(file.ReadFloat32("empty"));
        Assert.Equal([7f], file.ReadFloat32("scalar"));
        Assert.Empty(file.Tensors["scalar"].Shape);
    }

    [Fact]
    public void Writer_rejects_data_that_does_not_fit_the_shape_and_duplicate_names()
    {
        var ok = TensorToWrite.FromFloat32("t", [1f, 2f], [2], DType.F32);
        var wrongLength = new TensorToWrite("bad", DType.F32, [3], new byte[8]);
        Assert.Contains("needs 12 bytes", Assert.Throws<ArgumentException>(() =>
            SafeTensorsWriter.Write(_dir.File("x.safetensors"), [wrongLength])).Message);
        Assert.Contains("given twice", Assert.Throws<ArgumentException>(() =>
            SafeTensorsWriter.Write(_dir.File("y.safetensors"), [ok, ok])).Message);
        Assert.Throws<ArgumentException>(() => TensorToWrite.FromFloat32("t", [1f, 2f, 3f], [2], DType.F32));
        Assert.False(File.Exists(_dir.File("x.safetensors")));
    }

    [Fact]
    public void DTypes_parse_names_and_sizes()
    {
        Assert.Equal(DType.BF16, DTypes.Parse("BF16"));
        Assert.Equal("F16", DTypes.Name(DType.F16));
        Assert.Equal(4, DTypes.SizeOf(DType.F32));
        Assert.Equal(2, DTypes.SizeOf(DType.BF16));
        Assert.Contains("unsupported dtype 'I64'", Assert.Throws<SafeTensorsException>(() => DTypes.Parse("I64")).Message);
    }
}
