using BenchmarkDotNet.Attributes;
using LoRAQueue.Formats;

namespace LoRAQueue.Bench.Micro;

/// <summary>Encode and decode of a ~200-token prompt with the synthetic models' SentencePiece tokenizer: work the
/// gateway's limits and every worker's admission do per job.</summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private string _dir = null!;
    private ModelTokenizer _tokenizer = null!;
    private string _text = null!;
    private int[] _ids = null!;

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("loraqueue-micro-").FullName;
        var model = Path.Combine(_dir, "tiny");
        SyntheticModel.Create("tiny", model, seed: 1);
        _tokenizer = ModelTokenizer.Load(model);
        _text = string.Join(' ', Enumerable.Repeat("Summarise the ticket: the customer reports that the invoice total is wrong.", 12));
        _ids = [.. _tokenizer.Encode(_text)];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Benchmark]
    public int Encode() => _tokenizer.Encode(_text).Count;

    [Benchmark]
    public int Decode() => _tokenizer.Decode(_ids).Length;
}
