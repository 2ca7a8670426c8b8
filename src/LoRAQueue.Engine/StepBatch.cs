using LoRAQueue.Kernels;

namespace LoRAQueue.Engine;

/// <summary>One sequence's slice of a step: rows [RowStart, RowStart+Length) hold its tokens at positions
/// [StartPosition, StartPosition+Length); LogitsRow ≥ 0 when its last token's logits are wanted.</summary>
internal struct SequenceSlice
{
    public int RowStart;
    public int Length;
    public int StartPosition;
    public int[] BlockTable;
    public int LogitsRow;
}

/// <summary>Rows [RowStart, RowStart+Length) all use Adapter (null = base model only).</summary>
internal readonly record struct AdapterGroup(int RowStart, int Length, LoadedAdapter? Adapter);

/// <summary>The tokens of one step, laid out for the forward pass: each sequence's tokens are contiguous and
/// sequences of the same adapter are adjacent, so every adapter is one segment of rows. Preallocated for
/// MaxBatchTokens / MaxSequences; rebuilt in place every step.</summary>
internal sealed class StepBatch
{
    public readonly int[] TokenIds;
    public readonly int[] Positions;
    public readonly int[] RowSequence;  // row → index into Sequences
    public readonly SequenceSlice[] Sequences;
    public readonly AdapterGroup[] Groups;
    public readonly int[] LogitsSourceRows; // logits row i comes from token row LogitsSourceRows[i]
    private readonly LoraSegment[] _segments;

    public int TokenCount;
    public int SequenceCount;
    public int GroupCount;
    public int LogitsCount;
    public int MaxAdapterRank;

    public StepBatch(int maxTokens, int maxSequences)
    {
        TokenIds = new int[maxTokens];
        Positions = new int[maxTokens];
        RowSequence = new int[maxTokens];
        Sequences = new SequenceSlice[maxSequences];
        Groups = new AdapterGroup[maxSequences];
        LogitsSourceRows = new int[maxSequences];
        _segments = new LoraSegment[maxSequences];
    }

    public void Clear()
    {
        TokenCount = SequenceCount = GroupCount = LogitsCount = MaxAdapterRank = 0;
    }

    /// <summary>Appends a sequence's next <paramref name="count"/> tokens. Callers add sequences grouped by adapter.</summary>
    public int AddSequence(ReadOnlySpan<int> tokens, int startPosition, int[] blockTable, LoadedAdapter? adapter, bool wantLogits)
    {
        int s = SequenceCount++;
        int row = TokenCount;
        for (int i = 0; i < tokens.Length; i++)
        {
            TokenIds[row + i] = tokens[i];
            Positions[row + i] = startPosition + i;
            RowSequence[row + i] = s;
        }
        TokenCount += tokens.Length;

        int logitsRow = -1;
        if (wantLogits)
        {
            logitsRow = LogitsCount++;
            LogitsSourceRows[logitsRow] = row + tokens.Length - 1;
        }
        Sequences[s] = new SequenceSlice
        {
            RowStart = row, Length = tokens.Length, StartPosition = startPosition, BlockTable = blockTable, LogitsRow = logitsRow,
        };

        if (GroupCount > 0 && Groups[GroupCount - 1].Adapter == adapter)
        {
            var last = Groups[GroupCount - 1];
            Groups[GroupCount - 1] = last with { Length = last.Length + tokens.Length };
        }
        else
        {
            Groups[GroupCount++] = new AdapterGroup(row, tokens.Length, adapter);
        }
        if (adapter is not null) MaxAdapterRank = Math.Max(MaxAdapterRank, adapter.MaxRank);
        return logitsRow;
    }

    /// <summary>The LoRA segments of one (layer, module); empty when no token of the step has an adapter there.
    /// <paramref name="maxRank"/> is the largest rank among them (the shrink output's row stride).</summary>
    public ReadOnlySpan<LoraSegment> Segments(int layer, int module, out int maxRank)
    {
        maxRank = 0;
        for (int g = 0; g < GroupCount; g++)
        {
            var group = Groups[g];
            var weights = group.Adapter?.Module(layer, module);
            _segments[g] = new LoraSegment(group.RowStart, group.Length, weights);
            if (weights is not null) maxRank = Math.Max(maxRank, weights.Rank);
        }
        return maxRank == 0 ? ReadOnlySpan<LoraSegment>.Empty : _segments.AsSpan(0, GroupCount);
    }
}
