namespace LoRAQueue.Formats;

/// <summary>
/// A PEFT LoRA adapter directory (<c>adapter_config.json</c> + <c>adapter_model.safetensors</c>), validated
/// against the base model it will run on. Each module's rank comes from its tensor shapes.
/// </summary>
public sealed class LoraAdapter
{
    public const string ConfigFileName = "adapter_config.json";
    public const string WeightsFileName = "adapter_model.safetensors";

    private LoraAdapter(string directory, AdapterConfig config, List<LoraModule> modules, long sizeBytes, List<string> warnings)
    {
        Directory = directory;
        Config = config;
        Modules = modules;
        SizeBytes = sizeBytes;
        Warnings = warnings;
        MaxRank = modules.Count == 0 ? 0 : modules.Max(m => m.Rank);
    }

    public string Directory { get; }
    public AdapterConfig Config { get; }
    public IReadOnlyList<LoraModule> Modules { get; }
    public int MaxRank { get; }

    /// <summary>Bytes of the adapter's tensors as stored in the file.</summary>
    public long SizeBytes { get; }

    public IReadOnlyList<string> Warnings { get; }

    public static LoraAdapter Load(string directory, ModelConfig baseModel)
    {
        string configPath = Path.Combine(directory, ConfigFileName);
        string weightsPath = Path.Combine(directory, WeightsFileName);
        return Load(directory, baseModel,
            readConfig: () => File.Exists(configPath) ? File.ReadAllText(configPath) : null,
            openWeights: () => File.Exists(weightsPath) ? OpenWeights(weightsPath) : null,
            hasPickle: () => File.Exists(Path.Combine(directory, "adapter_model.bin")));
    }

    /// <summary>Loads an adapter from its files' bytes in memory (a host-cache slot); <paramref name="image"/> names it in errors.</summary>
    public static unsafe LoraAdapter Load(AdapterImage image, ModelConfig baseModel)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Load(image.Name, baseModel,
            readConfig: () => image.TryGet(ConfigFileName, out var bytes, out long length)
                ? System.Text.Encoding.UTF8.GetString(new ReadOnlySpan<byte>(bytes, checked((int)length))) : null,
            openWeights: () =>
            {
                if (!image.TryGet(WeightsFileName, out var bytes, out long length)) return null;
                try
                {
                    return SafeTensorsFile.FromMemory(bytes, length, $"{image.Name}/{WeightsFileName}");
                }
                catch (SafeTensorsException e)
                {
                    throw new AdapterFormatException(e.Message, e);
                }
            },
            hasPickle: () => image.TryGet("adapter_model.bin", out _, out _));
    }

    private static LoraAdapter Load(string directory, ModelConfig baseModel, Func<string?> readConfig, Func<SafeTensorsFile?> openWeights,
                                    Func<bool> hasPickle)
    {
        var warnings = new List<string>();
        var config = ParseConfig(directory, readConfig());
        if (config.FanInFanOut)
        {
            // PEFT does the same for nn.Linear targets; Llama-family bases have no Conv1D.
            warnings.Add("fan_in_fan_out is set to True but the target modules are torch.nn.Linear; setting fan_in_fan_out to False");
            config = config with { FanInFanOut = false };
        }
        CheckTargetsExist(config, baseModel);

        string weightsPath = Path.Combine(directory, WeightsFileName);
        using var file = openWeights() ?? throw (hasPickle()
            ? new AdapterFormatException(
                $"adapter '{directory}' has only adapter_model.bin (a PyTorch pickle); only adapter_model.safetensors is supported")
            : new AdapterFormatException($"adapter '{directory}' has no {WeightsFileName} (only safetensors adapters are supported)"));
        var pairs = PairTensors(file, baseModel, weightsPath);
        var modules = new List<LoraModule>(pairs.Count);
        long sizeBytes = 0;
        foreach (var ((layer, module), (a, b)) in pairs.OrderBy(p => p.Key.Layer).ThenBy(p => IndexOf(p.Key.Module)))
        {
            string fullName = PeftNames.ModuleFullName(layer, module);
            if (a is null || b is null)
                throw new AdapterFormatException(
                    $"adapter '{directory}': {fullName} has {(a is null ? "lora_B but no lora_A" : "lora_A but no lora_B")}");
            var shape = LoraShape.Check(a, b, fullName, baseModel.ModuleShape(module), directory);
            float scale = Scale(config, fullName, shape.Rank, directory, warnings);
            if (!PeftNames.IsTargeted(config, fullName))
                warnings.Add($"{fullName} has LoRA tensors but target_modules does not name it; loaded anyway");
            modules.Add(new LoraModule(layer, module, shape.Rank, scale, shape.In, shape.Out,
                                       file.ReadFloat32(a.Name), file.ReadFloat32(b.Name)));
            sizeBytes += a.ByteLength + b.ByteLength;
        }
        if (modules.Count == 0)
            throw new AdapterFormatException($"adapter '{directory}': {WeightsFileName} holds no LoRA tensors");
        return new LoraAdapter(directory, config, modules, sizeBytes, warnings);
    }

    private static AdapterConfig ParseConfig(string directory, string? json)
    {
        string path = Path.Combine(directory, ConfigFileName);
        if (json is null) throw new AdapterFormatException($"adapter '{directory}' has no {ConfigFileName}");
        try
        {
            return AdapterConfig.Parse(json);
        }
        catch (AdapterFormatException e)
        {
            throw new AdapterFormatException($"adapter config '{path}': {e.Message}", e);
        }
    }

    private static SafeTensorsFile OpenWeights(string path)
    {
        try
        {
            return SafeTensorsFile.Open(path);
        }
        catch (SafeTensorsException e)
        {
            throw new AdapterFormatException(e.Message, e); // the message already names the file
        }
    }

    /// <summary>Every name in target_modules must name a module of the base model, as PEFT insists.</summary>
    private static void CheckTargetsExist(AdapterConfig config, ModelConfig baseModel)
    {
        var names = new List<string>(baseModel.NumHiddenLayers * ModelConfig.LinearModules.Count);
        for (int layer = 0; layer < baseModel.NumHiddenLayers; layer++)
            foreach (string module in ModelConfig.LinearModules)
                names.Add(PeftNames.ModuleFullName(layer, module));

        if (config.TargetModulesRegex is { } regex)
        {
            if (!names.Exists(name => PeftNames.IsTargeted(config, name)))
                throw new AdapterFormatException($"unknown target module: target_modules regex '{regex}' matches no linear module of the base model");
            return;
        }
        foreach (string target in config.TargetModules)
            if (!names.Exists(name => PeftNames.MatchesTarget(name, target)))
                throw new AdapterFormatException(
                    $"unknown target module '{target}' (supported: {string.Join(", ", ModelConfig.LinearModules)})");
    }

    private static Dictionary<(int Layer, string Module), (TensorInfo? A, TensorInfo? B)> PairTensors(
        SafeTensorsFile file, ModelConfig baseModel, string path)
    {
        var pairs = new Dictionary<(int, string), (TensorInfo? A, TensorInfo? B)>();
        foreach (var tensor in file.Tensors.Values)
        {
            if (!PeftNames.TryParseKey(tensor.Name, out var key))
                throw new AdapterFormatException(
                    $"adapter '{path}': unexpected tensor '{tensor.Name}' (expected base_model.model.model.layers.{{i}}.self_attn|mlp.{{module}}.lora_A|lora_B.weight)");
            if (!ModelConfig.LinearModules.Contains(key.Module) || PeftNames.ParentOf(key.Module) != key.Parent)
                throw new AdapterFormatException($"adapter '{path}': unknown target module '{key.Parent}.{key.Module}' in tensor '{tensor.Name}'");
            if (key.Layer >= baseModel.NumHiddenLayers)
                throw new AdapterFormatException(
                    $"adapter made for another base model: tensor '{tensor.Name}' is for layer {key.Layer} but the base model has {baseModel.NumHiddenLayers} layers");
            pairs.TryGetValue((key.Layer, key.Module), out var pair);
            pairs[(key.Layer, key.Module)] = key.IsA ? pair with { A = tensor } : pair with { B = tensor };
        }
        return pairs;
    }

    /// <summary>alpha/r (or alpha/√r with rsLoRA); the rank a rank_pattern states must equal the tensors' rank.</summary>
    private static float Scale(AdapterConfig config, string fullName, int rank, string directory, List<string> warnings)
    {
        string? rankKey = PeftNames.FindPatternKey(config.RankPattern.Keys, fullName, "rank_pattern");
        int statedRank = rankKey is null ? config.R : config.RankPattern[rankKey];
        if (rankKey is not null && statedRank != rank)
            throw new AdapterFormatException(
                $"adapter '{directory}': rank_pattern '{rankKey}' states r={statedRank} for {fullName} but its tensors have rank {rank}");
        if (rankKey is null && statedRank != rank)
            warnings.Add($"{fullName}: r={config.R} in the config but the tensors have rank {rank}; using {rank}");

        string? alphaKey = PeftNames.FindPatternKey(config.AlphaPattern.Keys, fullName, "alpha_pattern");
        double alpha = alphaKey is null ? config.LoraAlpha : config.AlphaPattern[alphaKey];
        return (float)(config.UseRslora ? alpha / Math.Sqrt(rank) : alpha / rank);
    }

    private static int IndexOf(string module)
    {
        for (int i = 0; i < ModelConfig.LinearModules.Count; i++)
            if (ModelConfig.LinearModules[i] == module) return i;
        return -1;
    }
}
