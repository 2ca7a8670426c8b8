namespace LoRAQueue.Formats;

/// <summary>Checks a lora_A [r, in] / lora_B [out, r] pair against the base model's [out, in].</summary>
internal readonly record struct LoraShape(int Rank, int In, int Out)
{
    public static LoraShape Check(TensorInfo a, TensorInfo b, string fullName, (int Out, int In) expected, string directory)
    {
        if (a.Shape.Length != 2 || b.Shape.Length != 2)
            throw new AdapterFormatException(
                $"adapter '{directory}': {fullName}: lora_A {Show(a.Shape)} and lora_B {Show(b.Shape)} must both be matrices");
        long rankA = a.Shape[0], inDim = a.Shape[1], outDim = b.Shape[0], rankB = b.Shape[1];
        if (rankA != rankB)
            throw new AdapterFormatException(
                $"adapter '{directory}': {fullName}: lora_A has rank {rankA} but lora_B has rank {rankB}");
        if (rankA is 0 or > int.MaxValue)
            throw new AdapterFormatException($"adapter '{directory}': {fullName}: invalid rank {rankA}");
        if (outDim != expected.Out || inDim != expected.In)
            throw new AdapterFormatException(
                $"adapter made for another base model: {fullName} expects [out,in] = [{expected.Out}, {expected.In}] got [{outDim}, {inDim}]");
        return new LoraShape((int)rankA, (int)inDim, (int)outDim);
    }

    private static string Show(long[] shape) => $"[{string.Join(", ", shape)}]";
}
