using System.Globalization;

namespace LoRAQueue.Formats;

/// <summary>
/// Random PEFT LoRA adapters for a model directory, deterministic by seed. Unlike PEFT's initialisation
/// (B = 0, a no-op until trained), both matrices are random so that the adapter visibly changes the output.
/// </summary>
public static class SyntheticAdapter
{
    /// <summary>
    /// Wanted ratio of the LoRA delta's magnitude to the base layer's output magnitude: large enough that
    /// outputs with and without the adapter differ clearly, small enough that the model is still the base model.
    /// </summary>
    public const double TargetDeltaRatio = 0.2;

    public static IReadOnlyList<string> DefaultTargets { get; } = ["q_proj", "k_proj", "v_proj", "o_proj"];

    /// <param name="rank">Rank of every targeted module that <paramref name="rankPattern"/> does not match.</param>
    /// <param name="targets">Linear module names (q_proj … down_proj); null means <see cref="DefaultTargets"/>.</param>
    /// <param name="rankPattern">Module name or regex → rank, matched as PEFT does (first match wins).</param>
    /// <param name="alpha">lora_alpha; defaults to <paramref name="rank"/>, so the plain LoRA scale is 1.</param>
    public static void Create(string modelDir, int rank, IReadOnlyList<string>? targets, string outDir, ulong seed,
                              IReadOnlyDictionary<string, int>? rankPattern = null, double? alpha = null, bool rslora = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDir);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
        double loraAlpha = alpha ?? rank;
        if (!(loraAlpha > 0) || double.IsInfinity(loraAlpha))
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "lora_alpha must be a positive number");
        var pattern = rankPattern ?? new Dictionary<string, int>();
        foreach (var (key, value) in pattern)
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(rankPattern), value, $"rank_pattern '{key}' must be at least 1");

        var config = ModelConfig.Load(modelDir);
        var modules = ResolveTargets(targets);
        var baseStd = modules.ToDictionary(m => m, m => MeasureBaseWeightStd(modelDir, m));

        var tensors = new List<GeneratedTensor>();
        for (int layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            foreach (string module in modules)
            {
                string fullName = PeftNames.ModuleFullName(layer, module);
                int r = PeftNames.FindPatternKey(pattern.Keys, fullName, "rank_pattern") is { } key ? pattern[key] : rank;
                var (outDim, inDim) = config.ModuleShape(module);
                double scale = rslora ? loraAlpha / Math.Sqrt(r) : loraAlpha / r;

                // A ~ U(±1/√in) gives (A·x)_j the variance var(x)/3. With base weights of std σ_w the base output
                // has std σ_w·√in·std(x), the delta s·B·A·x has s·σ_B·√(r/3)·std(x): solve for the wanted ratio.
                float aBound = (float)(1 / Math.Sqrt(inDim));
                float bStd = (float)(TargetDeltaRatio * baseStd[module] * Math.Sqrt(inDim) * Math.Sqrt(3.0 / r) / scale);
                string prefix = PeftNames.KeyPrefix + fullName;
                string aName = prefix + ".lora_A.weight", bName = prefix + ".lora_B.weight";
                tensors.Add(new GeneratedTensor(aName, DType.F32, [r, inDim],
                    (chunk, span) => Stream(seed, aName, chunk).FillUniform(span, -aBound, aBound)));
                tensors.Add(new GeneratedTensor(bName, DType.F32, [outDim, r],
                    (chunk, span) => Stream(seed, bName, chunk).FillNormal(span, bStd)));
            }
        }

        Directory.CreateDirectory(outDir);
        WriteConfig(outDir, modelDir, rank, loraAlpha, modules, pattern, rslora);
        StreamingSafeTensorsWriter.Write(Path.Combine(outDir, LoraAdapter.WeightsFileName), tensors, new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["generator"] = "LoRAQueue.SyntheticAdapter",
            ["seed"] = seed.ToString(CultureInfo.InvariantCulture),
        });
    }

    private static Xoshiro256StarStar Stream(ulong seed, string name, long chunk) => new(Xoshiro256StarStar.StreamSeed(seed, name, chunk));

    /// <summary>The targets in the model's module order, each once.</summary>
    private static List<string> ResolveTargets(IReadOnlyList<string>? targets)
    {
        var wanted = targets ?? DefaultTargets;
        if (wanted.Count == 0) throw new ArgumentException("an adapter needs at least one target module", nameof(targets));
        foreach (string target in wanted)
            if (!ModelConfig.LinearModules.Contains(target))
                throw new ArgumentException(
                    $"unknown target module '{target}' (known: {string.Join(", ", ModelConfig.LinearModules)})", nameof(targets));
        return ModelConfig.LinearModules.Where(wanted.Contains).ToList();
    }

    /// <summary>
    /// The RMS of layer 0's weight of <paramref name="module"/>, so the delta is sized against the real base
    /// weights; <see cref="SyntheticModel.InitializerRange"/> when the directory holds only a config.
    /// </summary>
    private static double MeasureBaseWeightStd(string modelDir, string module)
    {
        if (!File.Exists(Path.Combine(modelDir, ModelWeights.SingleFileName)) && !File.Exists(Path.Combine(modelDir, ModelWeights.IndexFileName)))
            return SyntheticModel.InitializerRange;
        using var weights = ModelWeights.Open(modelDir);
        string name = PeftNames.ModuleFullName(0, module) + ".weight";
        if (!weights.Contains(name)) return SyntheticModel.InitializerRange;
        double sumSquares = 0;
        var values = weights.ReadFloat32(name);
        foreach (float v in values) sumSquares += (double)v * v;
        double rms = Math.Sqrt(sumSquares / Math.Max(1, values.Length));
        return rms > 0 && double.IsFinite(rms) ? rms : SyntheticModel.InitializerRange;
    }

    private static void WriteConfig(string outDir, string modelDir, int rank, double alpha, List<string> modules,
                                    IReadOnlyDictionary<string, int> rankPattern, bool rslora) =>
        HfModelFiles.WriteJson(Path.Combine(outDir, LoraAdapter.ConfigFileName), w =>
        {
            w.WriteString("peft_type", "LORA");
            w.WriteString("task_type", "CAUSAL_LM");
            w.WriteString("base_model_name_or_path", Path.GetFullPath(modelDir));
            w.WriteNumber("r", rank);
            w.WriteNumber("lora_alpha", alpha);
            w.WriteNumber("lora_dropout", 0.0);
            w.WriteStartArray("target_modules");
            foreach (string m in modules) w.WriteStringValue(m);
            w.WriteEndArray();
            w.WriteStartObject("rank_pattern");
            foreach (var (key, value) in rankPattern) w.WriteNumber(key, value);
            w.WriteEndObject();
            w.WriteStartObject("alpha_pattern");
            w.WriteEndObject();
            w.WriteBoolean("use_rslora", rslora);
            w.WriteBoolean("use_dora", false);
            w.WriteBoolean("fan_in_fan_out", false);
            w.WriteString("bias", "none");
            w.WriteBoolean("inference_mode", true);
            w.WriteNull("modules_to_save");
        });
}
