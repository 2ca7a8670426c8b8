namespace LoRAQueue.Formats.Tests.Synthetic;

/// <summary>One tiny synthetic model (seed 42) shared by the tests of a class.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public const ulong Seed = 42;
    private readonly TempDirectory _dir = new();

    public TinyModelFixture()
    {
        Progress = new RecordingProgress();
        SyntheticModel.Create("tiny", Directory, Seed, progress: Progress);
    }

    public string Directory => _dir.Path;
    public RecordingProgress Progress { get; }
    public ModelPreset Preset => SyntheticModel.Presets["tiny"];

    public void Dispose() => _dir.Dispose();
}

/// <summary>Collects progress reports synchronously (Progress&lt;T&gt; would post them to the thread pool).</summary>
public sealed class RecordingProgress : IProgress<double>
{
    private readonly List<double> _values = [];

    public IReadOnlyList<double> Values
    {
        get { lock (_values) return [.. _values]; }
    }

    public void Report(double value)
    {
        lock (_values) _values.Add(value);
    }
}
