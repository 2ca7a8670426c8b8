using System.Numerics.Tensors;

namespace LoRAQueue.Kernels;

/// <summary>Element-wise operations the engine needs between GEMMs; SIMD through TensorPrimitives.</summary>
public static unsafe class VectorOps
{
    /// <summary>
    /// Per row of weight.Length values: output = x / sqrt(mean(x²) + eps) · weight. x and output hold the
    /// same whole number of rows and may be the same span.
    /// </summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> output)
    {
        int width = weight.Length;
        if (width == 0) throw new ArgumentException("weight is empty", nameof(weight));
        if (x.Length % width != 0) throw new ArgumentException($"x has {x.Length} values, not a multiple of the row width {width}", nameof(x));
        if (output.Length < x.Length) throw new ArgumentException($"output has {output.Length} values, needs {x.Length}", nameof(output));
        for (int row = 0; row < x.Length; row += width)
        {
            var xr = x.Slice(row, width);
            var yr = output.Slice(row, width);
            float inverseRms = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(xr) / width + eps);
            TensorPrimitives.Multiply(xr, inverseRms, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }

    /// <summary>output = silu(gate) · up, silu(g) = g · sigmoid(g). output may be gate or up.</summary>
    public static void SiluMul(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        if (up.Length != gate.Length) throw new ArgumentException($"up has {up.Length} values, gate {gate.Length}", nameof(up));
        if (output.Length < gate.Length) throw new ArgumentException($"output has {output.Length} values, needs {gate.Length}", nameof(output));
        const int Chunk = 512;
        Span<float> sigmoid = stackalloc float[Chunk];
        for (int i = 0; i < gate.Length; i += Chunk)
        {
            int n = Math.Min(Chunk, gate.Length - i);
            var s = sigmoid[..n];
            var g = gate.Slice(i, n);
            TensorPrimitives.Sigmoid(g, s);
            TensorPrimitives.Multiply(s, g, s);
            TensorPrimitives.Multiply(s, up.Slice(i, n), output.Slice(i, n));
        }
    }

    /// <summary>In-place softmax over all of values (max-subtracted, so large logits do not overflow).</summary>
    public static void Softmax(Span<float> values)
    {
        if (values.IsEmpty) return;
        float max = TensorPrimitives.Max(values);
        TensorPrimitives.Subtract(values, max, values);
        TensorPrimitives.Exp(values, values);
        float sum = TensorPrimitives.Sum(values);
        TensorPrimitives.Divide(values, sum, values);
    }

    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.Dot(a, b);

    /// <summary>y += alpha · x.</summary>
    public static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length != x.Length) throw new ArgumentException($"y has {y.Length} values, x {x.Length}", nameof(y));
        TensorPrimitives.MultiplyAdd(x, alpha, y, y);
    }

    /// <summary>Widens BF16 bit patterns to float (e.g. an embedding row read from a BF16 memory map).</summary>
    public static void Bf16ToFloat(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException($"destination has {destination.Length} values, needs {source.Length}", nameof(destination));
        fixed (ushort* s = source)
        fixed (float* d = destination)
        {
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; i + 16 <= source.Length; i += 16) Simd512.LoadBf16(s + i).Store(d + i);
            else if (Vector256.IsHardwareAccelerated)
                for (; i + 8 <= source.Length; i += 8) Simd256.LoadBf16(s + i).Store(d + i);
            for (; i < source.Length; i++) d[i] = Bf16.ToFloat(s[i]);
        }
    }
}
