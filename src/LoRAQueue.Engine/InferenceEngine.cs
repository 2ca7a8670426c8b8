using System.Collections.Concurrent;
using LoRAQueue.Formats;

namespace LoRAQueue.Engine;

/// <summary>Multi-LoRA continuous-batching inference engine. Submit is thread-safe and may be called from any
/// thread; steps run on one thread at a time (RunAsync's dedicated thread, or a caller of Step).
/// The step itself is in InferenceEngine.Step.cs.</summary>
public sealed partial class InferenceEngine : IDisposable
{
    private readonly LlamaModel? _model;
    private readonly ModelConfig _config;
    private readonly ModelTokenizer? _tokenizer;
    private readonly EngineOptions _options;
    private readonly IStepExecutor _executor;
    private readonly KvBlockPool _cache;
    private readonly Scheduler _scheduler;
    private readonly StepBatch _batch;
    private readonly int[] _eosTokenIds;

    private readonly ConcurrentDictionary<string, LoadedAdapter> _adapters = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<Sequence> _incoming = new();
    private readonly ManualResetEventSlim _workArrived = new(false);
    private readonly Lock _stepLock = new();
    private int _adapterSlots;
    private long _arrivals;
    private int _unfinished;
    private int _cancelRequests;
    private volatile bool _disposed;

    /// <summary>The reference engine: the forward pass on the CPU over <paramref name="model"/>'s weights and a KV cache of
    /// <see cref="EngineOptions.KvCacheBytes"/>.</summary>
    public InferenceEngine(LlamaModel model, ModelTokenizer? tokenizer, EngineOptions options)
        : this(Checked(model).Config, model, tokenizer, options, batch => new CpuStepExecutor(model, options, batch))
    {
    }

    private InferenceEngine(ModelConfig config, LlamaModel? model, ModelTokenizer? tokenizer, EngineOptions options,
                            Func<StepBatch, IStepExecutor> executor)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _model = model;
        _config = config;
        _tokenizer = tokenizer;
        _options = options;
        _batch = new StepBatch(options.MaxBatchTokens, Math.Min(options.MaxSequences, options.MaxBatchTokens));
        _executor = executor(_batch);
        _cache = _executor.Blocks;
        _scheduler = new Scheduler(_cache, options);
        _eosTokenIds = EosTokenIds(config, tokenizer);
    }

    /// <summary>
    /// An engine with the emulated backend: the same admission, continuous batching, KV block accounting, preemption, adapter
    /// slots and stop conditions, with each step's forward pass replaced by a wait of <paramref name="backend"/>'s cost-model
    /// price of that step and deterministic tokens (<see cref="EmulatedTokens"/>). Needs the model's config (shape, vocabulary,
    /// positions: what the KV accounting and the checks read) but no weights, and allocates no KV cache: the block count is
    /// the one <see cref="EngineOptions.KvCacheBytes"/> gives the CPU backend for this config. Adapters are loaded (checked
    /// against the config, given slots) as for the CPU backend; only their rank enters the price.
    /// </summary>
    public static InferenceEngine CreateEmulated(ModelConfig config, ModelTokenizer? tokenizer, EngineOptions options, EmulatedBackend backend)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(backend.Cost);
        if (backend.MaxCatchUp < TimeSpan.Zero)
            throw new ArgumentException($"MaxCatchUp must not be negative (got {backend.MaxCatchUp}).", nameof(backend));
        int[] excluded = [.. EosTokenIds(config, tokenizer), .. tokenizer?.BosId is int bos ? [bos] : Array.Empty<int>()];
        var tokens = new EmulatedTokens(config.VocabSize, excluded);
        return new InferenceEngine(config, model: null, tokenizer, options,
                                   _ => new EmulatedStepExecutor(config, options, backend, tokens));
    }

    private static LlamaModel Checked(LlamaModel model) => model ?? throw new ArgumentNullException(nameof(model));

    private static int[] EosTokenIds(ModelConfig config, ModelTokenizer? tokenizer) =>
        config.EosTokenIds.Length > 0 ? config.EosTokenIds : tokenizer?.EosId is int eos ? [eos] : [];

    /// <summary>The model's weights; null for an emulated engine (<see cref="CreateEmulated"/>), which has none.</summary>
    public LlamaModel? Model => _model;
    public ModelConfig Config => _config;
    /// <summary>True for an engine made by <see cref="CreateEmulated"/>.</summary>
    public bool IsEmulated => _executor is EmulatedStepExecutor;
    /// <summary>Emulated engine: the time its steps ran behind the cost model and did not make up (a CPU-starved host; see
    /// <see cref="EmulatedBackend.MaxCatchUp"/>), and the sum of the steps' modelled times. Zero on the CPU backend.</summary>
    public TimeSpan EmulationLostTime => (_executor as EmulatedStepExecutor)?.LostTime ?? TimeSpan.Zero;
    public TimeSpan EmulationModelledTime => (_executor as EmulatedStepExecutor)?.ModelledTime ?? TimeSpan.Zero;
    public EngineOptions Options => _options;
    public int KvBlockCount => _cache.NumBlocks;
    public int KvBlocksFree => _cache.FreeBlocks;
    public long KvBytesPerBlock => PagedKvCache.BytesPerBlock(_config, _options.BlockSize);

    /// <summary>True while any submitted request has not finished.</summary>
    public bool HasWork => Volatile.Read(ref _unfinished) > 0;

    public IReadOnlyCollection<string> AdapterIds => [.. _adapters.Keys];

    /// <summary>Loads (or replaces) an adapter. Requests already submitted keep the weights they were submitted with.</summary>
    public void LoadAdapter(string id, LoraAdapter adapter)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        ArgumentNullException.ThrowIfNull(adapter);
        _adapters[id] = new LoadedAdapter(id, Interlocked.Increment(ref _adapterSlots), adapter, _config);
    }

    public bool UnloadAdapter(string id) => _adapters.TryRemove(id, out _);

    /// <summary>Queues a request. Throws ArgumentException (reason in the message) for requests that can never run:
    /// empty or over-long prompt, prompt + max tokens beyond the model's positions or the whole KV cache,
    /// unknown adapter, bad sampling settings. A request that merely has to wait for memory is accepted.</summary>
    public Task<GenerationResult> Submit(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(request);
        Validate(request);
        LoadedAdapter? adapter = null;
        if (request.AdapterId is { } adapterId && !_adapters.TryGetValue(adapterId, out adapter))
            throw new ArgumentException(
                $"Request '{request.Id}': unknown adapter '{adapterId}' (loaded: {(_adapters.IsEmpty ? "none" : string.Join(", ", _adapters.Keys))}).",
                nameof(request));

        var sequence = new Sequence(request, adapter, Interlocked.Increment(ref _arrivals), _options.BlockSize);
        if (cancellationToken.CanBeCanceled)
        {
            sequence.CancelRegistration = cancellationToken.Register(() =>
            {
                sequence.CancelRequested = true;
                Interlocked.Increment(ref _cancelRequests);
                _workArrived.Set();
            });
        }
        Interlocked.Increment(ref _unfinished);
        _incoming.Enqueue(sequence);
        _workArrived.Set();
        return sequence.Completion.Task;
    }

    private void Validate(GenerationRequest r)
    {
        var config = _config;
        string who = $"Request '{r.Id}'";
        if (r.PromptTokens is null || r.PromptTokens.Count == 0)
            throw new ArgumentException($"{who}: the prompt is empty.", nameof(r));
        if (r.MaxTokens < 1)
            throw new ArgumentException($"{who}: MaxTokens must be at least 1 (got {r.MaxTokens}).", nameof(r));
        for (int i = 0; i < r.PromptTokens.Count; i++)
            if ((uint)r.PromptTokens[i] >= (uint)config.VocabSize)
                throw new ArgumentException($"{who}: prompt token {r.PromptTokens[i]} at {i} is outside the vocabulary (size {config.VocabSize}).", nameof(r));
        long total = (long)r.PromptTokens.Count + r.MaxTokens;
        if (total > config.MaxPositionEmbeddings)
            throw new ArgumentException(
                $"{who}: prompt ({r.PromptTokens.Count} tokens) + max tokens ({r.MaxTokens}) = {total} exceeds the model's max_position_embeddings ({config.MaxPositionEmbeddings}).", nameof(r));
        // The last sampled token never needs a KV slot.
        long blocks = (total - 1 + _options.BlockSize - 1) / _options.BlockSize;
        if (blocks > _cache.NumBlocks)
            throw new ArgumentException(
                $"{who}: prompt ({r.PromptTokens.Count}) + max tokens ({r.MaxTokens}) needs {blocks} KV blocks of {_options.BlockSize} tokens but the whole cache has {_cache.NumBlocks} (KvCacheBytes {_options.KvCacheBytes}); it could never run.", nameof(r));
        if (r.StopStrings is { Count: > 0 } stops)
        {
            if (_tokenizer is null)
                throw new ArgumentException($"{who}: stop strings need a tokenizer, and the engine has none.", nameof(r));
            foreach (var s in stops)
                if (string.IsNullOrEmpty(s)) throw new ArgumentException($"{who}: stop strings must not be empty.", nameof(r));
        }
        var p = r.Sampling ?? SamplingParams.Greedy;
        if (!(p.Temperature >= 0) || float.IsInfinity(p.Temperature))
            throw new ArgumentException($"{who}: temperature must be a finite number ≥ 0 (got {p.Temperature}).", nameof(r));
        if (!(p.TopP > 0 && p.TopP <= 1))
            throw new ArgumentException($"{who}: top_p must be in (0, 1] (got {p.TopP}).", nameof(r));
        if (p.TopK < 0)
            throw new ArgumentException($"{who}: top_k must be ≥ 0 (got {p.TopK}; 0 = off).", nameof(r));
    }

    /// <summary>Runs steps on a dedicated thread until cancelled (the task then ends as cancelled) or the engine is
    /// disposed (it completes). If a step throws,
    /// every unfinished request fails with that exception and the task faults.</summary>
    public Task RunAsync(CancellationToken ct) => Task.Factory.StartNew(() =>
    {
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (_disposed) return;
            _workArrived.Reset();
            if (!HasWork)
            {
                _workArrived.Wait(ct);
                continue;
            }
            try
            {
                Step();
            }
            catch (Exception e)
            {
                FailAll(e);
                throw;
            }
        }
    }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Ends every unfinished request with FinishReason.Cancelled (outputs so far) and frees the cache.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_stepLock)
        {
            DrainIncoming();
            foreach (var s in SnapshotUnfinished()) Finish(s, FinishReason.Cancelled, text: null);
            _executor.Dispose();
        }
        _workArrived.Set(); // wake a waiting RunAsync loop; its next Step reports the disposal
    }

    private void FailAll(Exception e)
    {
        lock (_stepLock)
        {
            DrainIncoming();
            foreach (var s in SnapshotUnfinished())
            {
                _scheduler.Remove(s);
                s.CancelRegistration.Dispose();
                Interlocked.Decrement(ref _unfinished);
                s.Completion.TrySetException(new InvalidOperationException($"Request '{s.Request.Id}' failed: the engine step threw.", e));
            }
        }
    }

    private List<Sequence> SnapshotUnfinished() => [.. _scheduler.Running, .. _scheduler.Waiting];

    private void DrainIncoming()
    {
        while (_incoming.TryDequeue(out var sequence)) _scheduler.Enqueue(sequence);
    }
}
