using System.Runtime.CompilerServices;

namespace LoRAQueue.Kernels;

/// <summary>
/// One adapter's weights for one linear module: A [Rank, In] and Bᵀ [Rank, Out], row-major.
/// Kernels read A in place (pinned copy) and Bᵀ in a panel layout: for each block of
/// <see cref="PanelWidth"/> output columns, the [Rank, PanelWidth] slice is contiguous, so an expand over a
/// column range streams memory sequentially. <see cref="BT"/> is rebuilt from the panels on first access.
/// Treat the weights as read-only: the padded kernel caches zero-padded copies keyed by this object.
/// </summary>
public sealed unsafe class LoraModuleWeights
{
    /// <summary>Output columns per Bᵀ panel: a multiple of every SIMD width's 4-vector tile.</summary>
    internal const int PanelWidth = 64;

    readonly float[] _btPanels;
    float[]? _bt;

    public LoraModuleWeights(int rank, int inDim, int outDim, float scale, float[] a, float[] bTransposed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rank);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outDim);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(bTransposed);
        if (!float.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must be finite");
        if (a.LongLength != (long)rank * inDim)
            throw new ArgumentException($"A has {a.LongLength} values, expected rank×in = {rank}×{inDim}", nameof(a));
        if (bTransposed.LongLength != (long)rank * outDim)
            throw new ArgumentException($"Bᵀ has {bTransposed.LongLength} values, expected rank×out = {rank}×{outDim}", nameof(bTransposed));
        Rank = rank; In = inDim; Out = outDim; Scale = scale;
        A = GC.AllocateUninitializedArray<float>(a.Length, pinned: true);
        a.CopyTo(A, 0);
        _btPanels = GC.AllocateArray<float>(Panels * rank * PanelWidth, pinned: true);   // zeroed: padding columns stay 0
        for (int j = 0; j < rank; j++)
            for (int o = 0; o < outDim; o++)
                _btPanels[PanelOffset(o / PanelWidth) + j * PanelWidth + o % PanelWidth] = bTransposed[j * outDim + o];
        APointer = (float*)Unsafe.AsPointer(ref A[0]);
        BTPanelsPointer = (float*)Unsafe.AsPointer(ref _btPanels[0]);
    }

    /// <summary>From PEFT layout: B is [Out, Rank] as stored in adapter_model.safetensors; it is transposed here.</summary>
    public static LoraModuleWeights FromPeft(int rank, int inDim, int outDim, float scale, float[] a, float[] bOutByRank)
    {
        ArgumentNullException.ThrowIfNull(bOutByRank);
        if (rank <= 0 || outDim <= 0 || bOutByRank.LongLength != (long)outDim * rank)
            throw new ArgumentException($"B has {bOutByRank.LongLength} values, expected out×rank = {outDim}×{rank}", nameof(bOutByRank));
        var bt = new float[rank * outDim];
        for (int o = 0; o < outDim; o++)
            for (int j = 0; j < rank; j++)
                bt[j * outDim + o] = bOutByRank[o * rank + j];
        return new LoraModuleWeights(rank, inDim, outDim, scale, a, bt);
    }

    public int Rank { get; }
    public int In { get; }
    public int Out { get; }
    public float Scale { get; }
    /// <summary>[Rank, In] row-major.</summary>
    public float[] A { get; }
    /// <summary>Bᵀ: [Rank, Out] row-major (materialised from the kernel's panel layout on first access).</summary>
    public float[] BT => _bt ??= UnpackBT();
    /// <summary>Bytes the kernels read: A plus the Bᵀ panels.</summary>
    public long SizeBytes => ((long)A.Length + _btPanels.Length) * sizeof(float);

    internal float* APointer { get; }
    /// <summary>Bᵀ panels: panel p (columns [p·PanelWidth, +PanelWidth)) at PanelOffset(p), [Rank, PanelWidth] row-major.</summary>
    internal float* BTPanelsPointer { get; }
    internal int Panels => (Out + PanelWidth - 1) / PanelWidth;
    internal int PanelOffset(int panel) => panel * Rank * PanelWidth;

    /// <summary>A copy zero-padded to <paramref name="rank"/> rows of A and Bᵀ (what a padded kernel stores per slot).</summary>
    internal LoraModuleWeights PadTo(int rank)
    {
        if (rank < Rank) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"cannot pad rank {Rank} down");
        var a = new float[(long)rank * In];
        var bt = new float[(long)rank * Out];
        A.CopyTo(a, 0);
        BT.CopyTo(bt, 0);
        return new LoraModuleWeights(rank, In, Out, Scale, a, bt);
    }

    float[] UnpackBT()
    {
        var bt = new float[Rank * Out];
        for (int j = 0; j < Rank; j++)
            for (int o = 0; o < Out; o++)
                bt[j * Out + o] = _btPanels[PanelOffset(o / PanelWidth) + j * PanelWidth + o % PanelWidth];
        return bt;
    }
}
