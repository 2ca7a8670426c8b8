using LoRAQueue.Engine;
using LoRAQueue.Formats;

namespace LoRAQueue.Bench.Tests;

/// <summary>A `tiny` synthetic model (F32) generated once per test class in a temp dir.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("loraqueue-bench-tests-").FullName;
    public string ModelDir { get; }
    public LlamaModel Model { get; }

    public TinyModelFixture()
    {
        ModelDir = Path.Combine(Root, "tiny");
        SyntheticModel.Create("tiny", ModelDir, seed: 1, DType.F32);
        Model = LlamaModel.Load(ModelDir);
    }

    public void Dispose()
    {
        Model.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
