using LoRAQueue.Contracts.Admission;
using LoRAQueue.Core.Costs;
using LoRAQueue.Engine;
using LoRAQueue.Formats;
using LoRAQueue.Kernels;

namespace LoRAQueue.Worker;

/// <summary>
/// The worker's one base model, its tokenizer and the engine that serves every job on this process. The backend
/// (LoRAQueue:Worker:Backend) decides what a step does: <c>cpu</c> runs the forward pass over the model's weights;
/// <c>emulated</c> runs the same engine with each step's forward pass replaced by a wait of the accelerator profile's
/// price of that step (docs/emulated-workers.md), reading only config.json and the tokenizer from the model directory.
/// </summary>
public sealed class EngineRuntime : IDisposable
{
    public const string CpuBackend = "cpu", EmulatedBackendName = "emulated";
    public static IReadOnlyList<string> Backends { get; } = [CpuBackend, EmulatedBackendName];

    private EngineRuntime(LlamaModel? model, ModelConfig config, ModelTokenizer tokenizer, InferenceEngine engine, int maxTokens,
                          EmulatedBackend? emulation)
    {
        Model = model;
        Config = config;
        Tokenizer = tokenizer;
        Engine = engine;
        Emulation = emulation;
        // The whole KV cache is the most one sequence can ever hold here.
        Limits = new AdmissionLimits(config.MaxPositionEmbeddings, maxTokens, (long)engine.KvBlockCount * engine.Options.BlockSize);
    }

    /// <summary>The weights; null on the emulated backend, which loads none.</summary>
    public LlamaModel? Model { get; }
    public ModelConfig Config { get; }
    public ModelTokenizer Tokenizer { get; }
    public InferenceEngine Engine { get; }
    /// <summary>The cost model and kernel that price the emulated backend's steps; null on the cpu backend.</summary>
    public EmulatedBackend? Emulation { get; }
    public string Backend => Emulation is null ? CpuBackend : EmulatedBackendName;

    /// <summary>What this worker admits jobs against: its model's context, LoRAQueue:Worker:MaxTokens and its KV cache.</summary>
    public AdmissionLimits Limits { get; }

    public static EngineRuntime Load(WorkerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (!Directory.Exists(settings.ModelPath))
            throw new DirectoryNotFoundException($"base model directory '{settings.ModelPath}' (LoRAQueue:Model:Path) does not exist");
        return settings.Backend switch
        {
            CpuBackend => LoadCpu(settings),
            EmulatedBackendName => LoadEmulated(settings),
            _ => throw new ArgumentException($"unknown backend '{settings.Backend}' (LoRAQueue:Worker:Backend: {string.Join(", ", Backends)})"),
        };
    }

    private static EngineOptions Options(WorkerSettings settings) => new()
    {
        KvCacheBytes = (long)settings.KvCacheMb << 20,
        MaxSequences = settings.MaxSequences,
        MaxBatchTokens = settings.MaxBatchTokens,
        LoraKernel = MultiLoraKernels.Create(settings.Kernel),
    };

    private static EngineRuntime LoadCpu(WorkerSettings settings)
    {
        LlamaModel model;
        try
        {
            model = LlamaModel.Load(settings.ModelPath);
        }
        catch (FileNotFoundException e) when (e.FileName?.EndsWith(".safetensors", StringComparison.Ordinal) == true)
        {
            throw new FileNotFoundException($"{e.Message}: the cpu backend computes with the weights " +
                                            "(LoRAQueue:Worker:Backend=emulated needs only config.json and the tokenizer)", e.FileName, e);
        }
        try
        {
            var tokenizer = ModelTokenizer.Load(settings.ModelPath);
            var engine = new InferenceEngine(model, tokenizer, Options(settings));
            return new EngineRuntime(model, model.Config, tokenizer, engine, settings.MaxTokensLimit, emulation: null);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>config.json (shape, vocabulary, positions: the KV accounting and the job checks) and the tokenizer (prompts,
    /// output text); the weights are not read and need not be there.</summary>
    private static EngineRuntime LoadEmulated(WorkerSettings settings)
    {
        var profile = settings.Profile
                      ?? throw new ArgumentException("the emulated backend needs an accelerator profile (LoRAQueue:Worker:Profile: a built-in name or a profile file)");
        var emulation = new EmulatedBackend(new LinearStepCostModel(profile), KernelKind(settings.Kernel));
        var config = ModelConfig.Load(settings.ModelPath);
        var tokenizer = ModelTokenizer.Load(settings.ModelPath);
        var engine = InferenceEngine.CreateEmulated(config, tokenizer, Options(settings), emulation);
        return new EngineRuntime(null, config, tokenizer, engine, settings.MaxTokensLimit, emulation);
    }

    /// <summary>How the cost model charges the worker's kernel: segmented or padded (the loop kernel has no price).</summary>
    public static LoraKernelKind KernelKind(string kernel) => kernel.Trim().ToLowerInvariant() switch
    {
        "segmented" => LoraKernelKind.Segmented,
        "padded" => LoraKernelKind.Padded,
        _ => throw new ArgumentException($"LoRAQueue:Worker:Kernel '{kernel}' has no price in the cost model: the emulated backend takes segmented or padded"),
    };

    /// <summary>One line for the start-up log.</summary>
    public string Describe() => Emulation is { } e
        ? $"emulated backend: steps priced by profile '{e.Cost.Name}' ({e.Kernel.ToString().ToLowerInvariant()} kernel), waits by {DeadlineSleep.Method}; no weights loaded, no KV memory"
        : $"cpu backend: {Model!.WeightBytes:N0} bytes of weights";

    public void Dispose()
    {
        Engine.Dispose();
        Model?.Dispose();
    }
}
