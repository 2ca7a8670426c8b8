using LoRAQueue.Formats;
using LoRAQueue.Kernels;

namespace LoRAQueue.Engine;

/// <summary>An adapter in kernel layout: per (layer, linear module) weights, null where the adapter has none.
/// Ranks may differ per module (PEFT rank_pattern).</summary>
internal sealed class LoadedAdapter
{
    private readonly LoraModuleWeights?[] _modules; // [layer * LinearModule.Count + module]

    public string Id { get; }
    /// <summary>Load order; steps put adapters' tokens in this order so segments are contiguous.</summary>
    public int Slot { get; }
    public int MaxRank { get; }
    public long SizeBytes { get; }

    public LoadedAdapter(string id, int slot, LoraAdapter adapter, ModelConfig config)
    {
        Id = id;
        Slot = slot;
        _modules = new LoraModuleWeights?[config.NumHiddenLayers * LinearModule.Count];
        foreach (var m in adapter.Modules)
        {
            if (m.Layer < 0 || m.Layer >= config.NumHiddenLayers)
                throw new ArgumentException($"Adapter '{id}': layer {m.Layer} is outside the base model's {config.NumHiddenLayers} layers.");
            int index = LinearModule.IndexOf(m.Module);
            var (outDim, inDim) = config.ModuleShape(m.Module);
            if (m.In != inDim || m.Out != outDim)
                throw new ArgumentException($"Adapter '{id}': layer {m.Layer} {m.Module} is [{m.Out}×{m.In}], base model has [{outDim}×{inDim}].");
            if (m.Rank <= 0)
                throw new ArgumentException($"Adapter '{id}': layer {m.Layer} {m.Module} has rank {m.Rank}.");
            _modules[m.Layer * LinearModule.Count + index] = LoraModuleWeights.FromPeft(m.Rank, m.In, m.Out, m.Scale, m.A, m.B);
            MaxRank = Math.Max(MaxRank, m.Rank);
            SizeBytes += (long)(m.A.Length + m.B.Length) * sizeof(float);
        }
    }

    public LoraModuleWeights? Module(int layer, int module) => _modules[layer * LinearModule.Count + module];
}
