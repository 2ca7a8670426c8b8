using System.Runtime.InteropServices;
using LoRAQueue.Formats;

namespace LoRAQueue.Engine;

/// <summary>A sequence's block table: logical block i of the sequence lives in physical block Blocks[i].</summary>
internal sealed class BlockTable
{
    public int[] Blocks { get; private set; }
    public int Count { get; private set; }

    public BlockTable(int capacity) => Blocks = new int[Math.Max(capacity, 1)];

    public void Add(int block)
    {
        if (Count == Blocks.Length)
        {
            var grown = Blocks;
            Array.Resize(ref grown, Blocks.Length * 2);
            Blocks = grown;
        }
        Blocks[Count++] = block;
    }

    public void Clear() => Count = 0;
}

/// <summary>The KV cache's block accounting without the memory: which blocks are free, and each sequence's block
/// table. The scheduler decides with it alone, so the digital twin runs the same admission and preemption on an
/// accelerator's block count without allocating its cache.</summary>
internal class KvBlockPool
{
    private readonly int[] _freeBlocks; // stack of free block ids
    private int _freeCount;

    public KvBlockPool(int numBlocks, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numBlocks);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        NumBlocks = numBlocks;
        BlockSize = blockSize;
        _freeBlocks = new int[NumBlocks];
        for (int i = 0; i < NumBlocks; i++)
            _freeBlocks[i] = NumBlocks - 1 - i; // pop order 0, 1, 2, ...
        _freeCount = NumBlocks;
    }

    public int BlockSize { get; }
    public int NumBlocks { get; }
    public int FreeBlocks => _freeCount;
    public int UsedBlocks => NumBlocks - _freeCount;

    public int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;

    /// <summary>Blocks the table still needs so that it covers <paramref name="tokens"/> positions.</summary>
    public int MissingBlocks(BlockTable table, int tokens) => Math.Max(0, BlocksFor(tokens) - table.Count);

    /// <summary>Grows the table to cover <paramref name="tokens"/> positions; false (and no change) if too few blocks are free.</summary>
    public bool TryGrow(BlockTable table, int tokens)
    {
        int missing = MissingBlocks(table, tokens);
        if (missing > _freeCount) return false;
        for (int i = 0; i < missing; i++)
            table.Add(_freeBlocks[--_freeCount]);
        return true;
    }

    public void Release(BlockTable table)
    {
        for (int i = 0; i < table.Count; i++)
            _freeBlocks[_freeCount++] = table.Blocks[i];
        table.Clear();
    }
}

/// <summary>Paged KV cache (vLLM's PagedAttention layout on the CPU): a pool of fixed-size blocks, each holding
/// BlockSize token slots of K and V for every layer and KV head, in F32. Sequences own blocks through block
/// tables; nothing is reserved for a sequence's maximum length.</summary>
internal sealed unsafe class PagedKvCache : KvBlockPool, IDisposable
{
    private readonly float*[] _keys;   // per layer: [block, slot, kvHead, headDim]
    private readonly float*[] _values;

    public int Layers { get; }
    public int KvDim { get; }

    public static long BytesPerBlock(ModelConfig c, int blockSize) =>
        (long)blockSize * c.NumHiddenLayers * 2 * c.NumKeyValueHeads * c.HeadDim * sizeof(float);

    public PagedKvCache(ModelConfig config, int blockSize, long budgetBytes) : base(BlockCount(config, blockSize, budgetBytes), blockSize)
    {
        Layers = config.NumHiddenLayers;
        KvDim = config.NumKeyValueHeads * config.HeadDim;

        nuint layerBytes = (nuint)NumBlocks * (nuint)blockSize * (nuint)KvDim * sizeof(float);
        _keys = new float*[Layers];
        _values = new float*[Layers];
        for (int l = 0; l < Layers; l++)
        {
            // Zeroed now, so decode steps do not take the first-touch page faults of fresh blocks (~0.8 ms a
            // step at batch 32 on the medium preset) and no step can read memory it did not write.
            _keys[l] = (float*)NativeMemory.AlignedAlloc(layerBytes, 64);
            _values[l] = (float*)NativeMemory.AlignedAlloc(layerBytes, 64);
            NativeMemory.Clear(_keys[l], layerBytes);
            NativeMemory.Clear(_values[l], layerBytes);
        }
    }

    /// <summary>Blocks a budget of <paramref name="budgetBytes"/> holds (the emulated backend counts the same blocks without allocating them).</summary>
    internal static int BlockCount(ModelConfig config, int blockSize, long budgetBytes)
    {
        long perBlock = BytesPerBlock(config, blockSize);
        long blocks = budgetBytes / perBlock;
        if (blocks < 1)
            throw new ArgumentException($"KvCacheBytes {budgetBytes} is less than one KV block ({perBlock} bytes for {blockSize} tokens).");
        return (int)Math.Min(blocks, int.MaxValue / 2);
    }

    /// <summary>Offset in floats, within a layer's K (or V) array, of the row (all KV heads) of token
    /// <paramref name="position"/> of the sequence owning <paramref name="table"/>.</summary>
    public long RowOffset(int[] table, int position) =>
        ((long)table[position / BlockSize] * BlockSize + position % BlockSize) * KvDim;

    /// <summary>A layer's K array [block, slot, kvHead, headDim]; V has the same layout.</summary>
    public float* Keys(int layer) => _keys[layer];
    public float* Values(int layer) => _values[layer];

    public float* KeyAt(int layer, int[] table, int position) => _keys[layer] + RowOffset(table, position);
    public float* ValueAt(int layer, int[] table, int position) => _values[layer] + RowOffset(table, position);

    public void Dispose()
    {
        for (int l = 0; l < Layers; l++)
        {
            NativeMemory.AlignedFree(_keys[l]);
            NativeMemory.AlignedFree(_values[l]);
            _keys[l] = null;
            _values[l] = null;
        }
    }
}
