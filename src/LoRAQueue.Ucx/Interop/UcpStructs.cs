using System.Runtime.InteropServices;

namespace LoRAQueue.Ucx.Interop;

// The parameter structs of ucp.h / ucp_def.h (UCX 1.13, x86-64 LP64), field for field in declaration order: sequential
// layout gives C's natural alignment. UcpLayoutTests compiles the headers with cc and checks every size and offset.

[StructLayout(LayoutKind.Sequential)]
internal struct UcpParams
{
    public ulong FieldMask;
    public ulong Features;
    public nuint RequestSize;
    public nint RequestInit;
    public nint RequestCleanup;
    public ulong TagSenderMask;
    public int MtWorkersShared;
    public nuint EstimatedNumEps;
    public nuint EstimatedNumPpn;
    public nint Name;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct UcpWorkerParams
{
    public ulong FieldMask;
    public int ThreadMode;
    public fixed ulong CpuMask[16]; // ucs_cpu_set_t: 1024 bits
    public uint Events;
    public nint UserData;
    public int EventFd;
    public ulong Flags;
    public nint Name;
    public nuint AmAlignment;
    public ulong ClientId;
}

[StructLayout(LayoutKind.Sequential)]
internal struct UcsSockAddr
{
    public nint Addr;
    public uint AddrLen;
}

[StructLayout(LayoutKind.Sequential)]
internal struct UcpEpParams
{
    public ulong FieldMask;
    public nint Address;
    public int ErrMode;
    public nint ErrHandlerCb;
    public nint ErrHandlerArg;
    public nint UserData;
    public uint Flags;
    public UcsSockAddr SockAddr;
    public nint ConnRequest;
    public nint Name;
    public UcsSockAddr LocalSockAddr;
}

[StructLayout(LayoutKind.Sequential)]
internal struct UcpMemMapParams
{
    public ulong FieldMask;
    public nint Address;
    public nuint Length;
    public uint Flags;
    public uint Prot;
    public int MemoryType;
}

[StructLayout(LayoutKind.Sequential)]
internal struct UcpRequestParam
{
    public uint OpAttrMask;
    public uint Flags;
    public nint Request;
    public nint Callback;
    public ulong Datatype;
    public nint UserData;
    public nint ReplyBuffer;
    public int MemoryType;
    public nint RecvInfo;
    public nint Memh;
}

[StructLayout(LayoutKind.Sequential)]
internal struct UcpAmHandlerParam
{
    public ulong FieldMask;
    public uint Id;
    public uint Flags;
    public nint Cb;
    public nint Arg;
}

[StructLayout(LayoutKind.Sequential)]
internal struct UcpAmRecvParam
{
    public ulong RecvAttr;
    public nint ReplyEp;
}
