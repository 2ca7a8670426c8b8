using System.Globalization;

namespace LoRAQueue.Formats;

/// <summary>
/// Random-weight Llama-family models in the Hugging Face layout (config.json, safetensors weights, a trained
/// SentencePiece tokenizer), deterministic by seed: the same seed always gives the same bytes.
/// Linear and embedding weights are N(0, 0.02²), norm weights 1.
/// </summary>
public static class SyntheticModel
{
    public const double InitializerRange = 0.02;
    public const float WeightStd = (float)InitializerRange;

    /// <summary>Weights larger than this are split into shards with a model.safetensors.index.json.</summary>
    public const long DefaultMaxShardBytes = 1L << 30;

    public static IReadOnlyDictionary<string, ModelPreset> Presets { get; } = new Dictionary<string, ModelPreset>(StringComparer.OrdinalIgnoreCase)
    {
        // 0.6 MB of F32 weights, for tests.
        ["tiny"] = new("tiny", HiddenSize: 64, NumHiddenLayers: 2, NumAttentionHeads: 4, NumKeyValueHeads: 2,
                       IntermediateSize: 176, VocabSize: 512, MaxPositionEmbeddings: 512, DType.F32),
        // 8 MB of BF16 weights, for demos.
        ["small"] = new("small", 256, 4, 8, 4, 704, 2048, 2048, DType.BF16),
        // 492 MB of BF16 weights: large enough that decoding is memory-bound; the bench default.
        ["medium"] = new("medium", 1024, 16, 16, 4, 2816, 32000, 2048, DType.BF16),
        // The shape of TinyLlama-1.1B: 1.1 B parameters, 2.2 GB, written as 1 GiB shards.
        ["1b"] = new("1b", 2048, 22, 32, 4, 5632, 32000, 2048, DType.BF16) { RopeTheta = 10000 },
    };

    public static void Create(string preset, string outDir, ulong seed, DType? dtype = null, IProgress<double>? progress = null,
                              long maxShardBytes = DefaultMaxShardBytes)
    {
        ArgumentNullException.ThrowIfNull(preset);
        if (!Presets.TryGetValue(preset, out var shape))
            throw new ArgumentException($"unknown model preset '{preset}' (known: {string.Join(", ", Presets.Keys)})", nameof(preset));
        Create(dtype is { } d ? shape with { DType = d } : shape, outDir, seed, progress, maxShardBytes);
    }

    /// <summary>Writes <paramref name="preset"/> into <paramref name="outDir"/>, replacing weights already there.</summary>
    public static void Create(ModelPreset preset, string outDir, ulong seed, IProgress<double>? progress = null,
                              long maxShardBytes = DefaultMaxShardBytes)
    {
        ArgumentNullException.ThrowIfNull(preset);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxShardBytes, 1);
        preset.Validate();
        var tokenizer = SentencePieceBpeBuilder.Build(preset.VocabSize); // covers the whole vocab: learned merges, then synthetic ones

        Directory.CreateDirectory(outDir);
        RemoveWeights(outDir);
        HfModelFiles.WriteTokenizerFiles(outDir, tokenizer, preset.MaxPositionEmbeddings);
        HfModelFiles.WriteConfig(outDir, preset, tokenizer.BosId, tokenizer.EosId);
        HfModelFiles.WriteGenerationConfig(outDir, tokenizer.BosId, tokenizer.EosId);
        WriteWeights(preset, outDir, seed, progress, maxShardBytes);
        progress?.Report(1.0);
    }

    private static void WriteWeights(ModelPreset preset, string outDir, ulong seed, IProgress<double>? progress, long maxShardBytes)
    {
        var tensors = preset.Tensors().Select(t => new GeneratedTensor(t.Name, preset.DType, t.Shape,
            t.IsNorm ? static (_, span) => span.Fill(1f) : (chunk, span) => FillNormal(seed, t.Name, chunk, span))).ToList();
        var shards = PlanShards(tensors, maxShardBytes);
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["generator"] = "LoRAQueue.SyntheticModel",
            ["preset"] = preset.Name,
            ["seed"] = seed.ToString(CultureInfo.InvariantCulture),
        };

        long total = tensors.Sum(t => t.ByteLength), written = 0;
        Action<long> onBytes = bytes =>
        {
            written += bytes;
            progress?.Report(total == 0 ? 1.0 : 0.999 * written / total);
        };
        if (shards.Count == 1)
        {
            StreamingSafeTensorsWriter.Write(Path.Combine(outDir, "model.safetensors"), shards[0], metadata, onBytes);
            return;
        }
        var weightMap = new List<(string Tensor, string File)>();
        for (int i = 0; i < shards.Count; i++)
        {
            string file = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            StreamingSafeTensorsWriter.Write(Path.Combine(outDir, file), shards[i], metadata, onBytes);
            weightMap.AddRange(shards[i].Select(t => (t.Name, file)));
        }
        HfModelFiles.WriteJson(Path.Combine(outDir, "model.safetensors.index.json"), w =>
        {
            w.WriteStartObject("metadata");
            w.WriteNumber("total_size", total);
            w.WriteEndObject();
            w.WriteStartObject("weight_map");
            foreach (var (tensor, file) in weightMap) w.WriteString(tensor, file);
            w.WriteEndObject();
        });
    }

    private static void FillNormal(ulong seed, string name, long chunk, Span<float> values) =>
        new Xoshiro256StarStar(Xoshiro256StarStar.StreamSeed(seed, name, chunk)).FillNormal(values, WeightStd);

    /// <summary>Consecutive tensors per shard; a new shard starts where the next tensor would pass the limit.</summary>
    private static List<List<GeneratedTensor>> PlanShards(List<GeneratedTensor> tensors, long maxShardBytes)
    {
        var shards = new List<List<GeneratedTensor>> { new() };
        long size = 0;
        foreach (var tensor in tensors)
        {
            if (shards[^1].Count > 0 && size + tensor.ByteLength > maxShardBytes)
            {
                shards.Add([]);
                size = 0;
            }
            shards[^1].Add(tensor);
            size += tensor.ByteLength;
        }
        return shards;
    }

    /// <summary>Old weights would mix with the new ones (an index left beside a single file, or extra shards).</summary>
    private static void RemoveWeights(string directory)
    {
        foreach (string path in Directory.EnumerateFiles(directory, "model*.safetensors*"))
            File.Delete(path);
    }
}
