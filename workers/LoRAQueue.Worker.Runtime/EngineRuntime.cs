using LoRAQueue.Contracts.Admission;
using LoRAQueue.Engine;
using LoRAQueue.Formats;
using LoRAQueue.Kernels;

namespace LoRAQueue.Worker;

/// <summary>The worker's one base model, its tokenizer and the engine that serves every job on this process.</summary>
public sealed class EngineRuntime : IDisposable
{
    private EngineRuntime(LlamaModel model, ModelTokenizer tokenizer, InferenceEngine engine, int maxTokens)
    {
        Model = model;
        Tokenizer = tokenizer;
        Engine = engine;
        // The whole KV cache is the most one sequence can ever hold here.
        Limits = new AdmissionLimits(model.Config.MaxPositionEmbeddings, maxTokens, (long)engine.KvBlockCount * engine.Options.BlockSize);
    }

    public LlamaModel Model { get; }
    public ModelConfig Config => Model.Config;
    public ModelTokenizer Tokenizer { get; }
    public InferenceEngine Engine { get; }

    /// <summary>What this worker admits jobs against: its model's context, LoRAQueue:Worker:MaxTokens and its KV cache.</summary>
    public AdmissionLimits Limits { get; }

    public static EngineRuntime Load(WorkerSettings settings)
    {
        if (!Directory.Exists(settings.ModelPath))
            throw new DirectoryNotFoundException($"base model directory '{settings.ModelPath}' (LoRAQueue:Model:Path) does not exist");
        var model = LlamaModel.Load(settings.ModelPath);
        try
        {
            var tokenizer = ModelTokenizer.Load(settings.ModelPath);
            var engine = new InferenceEngine(model, tokenizer, new EngineOptions
            {
                KvCacheBytes = (long)settings.KvCacheMb << 20,
                MaxSequences = settings.MaxSequences,
                MaxBatchTokens = settings.MaxBatchTokens,
                LoraKernel = MultiLoraKernels.Create(settings.Kernel),
            });
            return new EngineRuntime(model, tokenizer, engine, settings.MaxTokensLimit);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Engine.Dispose();
        Model.Dispose();
    }
}
