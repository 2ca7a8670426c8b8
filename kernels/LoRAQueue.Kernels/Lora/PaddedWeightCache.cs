using System.Runtime.CompilerServices;

namespace LoRAQueue.Kernels;

/// <summary>
/// Zero-padded copies of adapter weights per (module, rank), built on first use and kept while the module
/// lives, like the stacked per-slot buffers of vLLM that are allocated at max_lora_rank.
/// </summary>
internal static class PaddedWeightCache
{
    sealed class Entry
    {
        public volatile LoraModuleWeights[] Padded = [];   // copy-on-write; lookups do not lock or allocate
    }

    static readonly ConditionalWeakTable<LoraModuleWeights, Entry> s_cache = new();

    public static LoraModuleWeights Get(LoraModuleWeights module, int rank)
    {
        if (module.Rank == rank) return module;
        var entry = s_cache.GetValue(module, static _ => new Entry());
        foreach (var padded in entry.Padded)
            if (padded.Rank == rank) return padded;
        lock (entry)
        {
            foreach (var padded in entry.Padded)
                if (padded.Rank == rank) return padded;
            var created = module.PadTo(rank);
            entry.Padded = [.. entry.Padded, created];
            return created;
        }
    }
}
