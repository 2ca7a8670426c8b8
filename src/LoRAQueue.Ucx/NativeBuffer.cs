using System.Buffers;
using System.Runtime.InteropServices;

namespace LoRAQueue.Ucx;

/// <summary>Page-aligned native memory that never moves: what a region registered with UCX must be. Also a
/// <see cref="MemoryManager{T}"/>, so sockets and streams read and write it without a copy.</summary>
public sealed unsafe class NativeBuffer : MemoryManager<byte>
{
    private nint _address;

    public NativeBuffer(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, int.MaxValue);
        Length = (int)length;
        _address = (nint)NativeMemory.AlignedAlloc((nuint)length, 4096);
    }

    public nint Address => _address != 0 ? _address : throw new ObjectDisposedException(nameof(NativeBuffer));
    public int Length { get; }
    public Span<byte> Span => GetSpan();

    public override Span<byte> GetSpan() => new((void*)Address, Length);
    public override MemoryHandle Pin(int elementIndex = 0) => new((byte*)Address + elementIndex);
    public override void Unpin() { }

    protected override void Dispose(bool disposing)
    {
        var address = Interlocked.Exchange(ref _address, 0);
        if (address != 0) NativeMemory.AlignedFree((void*)address);
    }
}
