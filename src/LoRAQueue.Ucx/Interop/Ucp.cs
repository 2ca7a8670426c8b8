using System.Runtime.InteropServices;
using LoRAQueue.Ucx;

namespace LoRAQueue.Ucx.Interop;

/// <summary>The libucp (and two libucs) entry points LoRAQueue uses, with their constants.</summary>
internal static unsafe partial class Ucp
{
    public const string Library = "libucp.so.0";
    private const string UcsLibrary = "libucs.so.0";
    public const uint ApiMajor = 1, ApiMinor = 13;

    // ucs_status_t
    public const int Ok = 0, InProgress = 1, ErrBusy = -15, ErrCanceled = -16, ErrLast = -100;

    public const ulong ParamFieldFeatures = 1UL << 0;
    public const ulong FeatureRma = 1UL << 1, FeatureWakeup = 1UL << 4, FeatureAm = 1UL << 6;
    public const ulong WorkerParamFieldThreadMode = 1UL << 0, WorkerParamFieldEvents = 1UL << 2;
    /// <summary>ucp_wakeup_event_t: any outgoing completion (send, RMA, atomic), any receive.</summary>
    public const uint WakeupTx = 1u << 10, WakeupRx = 1u << 11;
    public const int ThreadModeSingle = 0;
    public const ulong EpParamFieldRemoteAddress = 1UL << 0, EpParamFieldErrHandlingMode = 1UL << 1, EpParamFieldErrHandler = 1UL << 2;
    public const int ErrHandlingModePeer = 1;
    public const ulong MemMapParamFieldAddress = 1UL << 0, MemMapParamFieldLength = 1UL << 1, MemMapParamFieldProt = 1UL << 3;
    public const uint ProtLocalRead = 1u << 0, ProtLocalWrite = 1u << 1, ProtRemoteRead = 1u << 8;
    public const uint EpCloseFlagForce = 1u << 0;
    public const uint OpAttrFieldFlags = 1u << 4;
    public const ulong AmHandlerParamFieldId = 1UL << 0, AmHandlerParamFieldFlags = 1UL << 1, AmHandlerParamFieldCb = 1UL << 2,
                       AmHandlerParamFieldArg = 1UL << 3;
    public const uint AmFlagWholeMsg = 1u << 0;
    public const uint AmSendFlagReply = 1u << 0;
    public const ulong AmRecvAttrFlagRndv = 1UL << 17;

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ucp_config_read(string? envPrefix, string? filename, out nint config);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ucp_config_modify(nint config, string name, string value);

    [LibraryImport(Library)]
    public static partial void ucp_config_release(nint config);

    [LibraryImport(Library)]
    public static partial int ucp_init_version(uint apiMajor, uint apiMinor, UcpParams* parameters, nint config, out nint context);

    [LibraryImport(Library)]
    public static partial void ucp_cleanup(nint context);

    [LibraryImport(Library)]
    public static partial int ucp_worker_create(nint context, UcpWorkerParams* parameters, out nint worker);

    [LibraryImport(Library)]
    public static partial void ucp_worker_destroy(nint worker);

    [LibraryImport(Library)]
    public static partial int ucp_worker_get_address(nint worker, out nint address, out nuint length);

    [LibraryImport(Library)]
    public static partial void ucp_worker_release_address(nint worker, nint address);

    [LibraryImport(Library)]
    public static partial uint ucp_worker_progress(nint worker);

    [LibraryImport(Library)]
    public static partial int ucp_worker_get_efd(nint worker, out int fd);

    [LibraryImport(Library)]
    public static partial int ucp_worker_arm(nint worker);

    /// <summary>Safe from any thread (ucp.h): makes the worker's event fd readable.</summary>
    [LibraryImport(Library)]
    public static partial int ucp_worker_signal(nint worker);

    [LibraryImport(Library)]
    public static partial int ucp_ep_create(nint worker, UcpEpParams* parameters, out nint endpoint);

    [LibraryImport(Library)]
    public static partial nint ucp_ep_close_nbx(nint endpoint, UcpRequestParam* parameters);

    [LibraryImport(Library)]
    public static partial int ucp_mem_map(nint context, UcpMemMapParams* parameters, out nint memh);

    [LibraryImport(Library)]
    public static partial int ucp_mem_unmap(nint context, nint memh);

    [LibraryImport(Library)]
    public static partial int ucp_rkey_pack(nint context, nint memh, out nint buffer, out nuint size);

    [LibraryImport(Library)]
    public static partial void ucp_rkey_buffer_release(nint buffer);

    [LibraryImport(Library)]
    public static partial int ucp_ep_rkey_unpack(nint endpoint, byte* buffer, out nint rkey);

    [LibraryImport(Library)]
    public static partial void ucp_rkey_destroy(nint rkey);

    [LibraryImport(Library)]
    public static partial nint ucp_get_nbx(nint endpoint, void* buffer, nuint count, ulong remoteAddress, nint rkey, UcpRequestParam* parameters);

    [LibraryImport(Library)]
    public static partial int ucp_worker_set_am_recv_handler(nint worker, UcpAmHandlerParam* parameters);

    [LibraryImport(Library)]
    public static partial nint ucp_am_send_nbx(nint endpoint, uint id, void* header, nuint headerLength, void* buffer, nuint count,
                                               UcpRequestParam* parameters);

    [LibraryImport(Library)]
    public static partial nint ucp_am_recv_data_nbx(nint worker, nint dataDescriptor, void* buffer, nuint count, UcpRequestParam* parameters);

    [LibraryImport(Library)]
    public static partial int ucp_request_check_status(nint request);

    [LibraryImport(Library)]
    public static partial void ucp_request_free(nint request);

    [LibraryImport(Library)]
    public static partial nint ucp_get_version_string();

    [LibraryImport(UcsLibrary)]
    public static partial nint ucs_status_string(int status);

    /// <summary>UCS_PTR_IS_ERR: a status pointer in [ERR_LAST, -1] is an error code.</summary>
    public static bool IsError(nint statusPointer) => (nuint)statusPointer >= unchecked((nuint)ErrLast);

    public static string Describe(int status) => Marshal.PtrToStringUTF8(ucs_status_string(status)) ?? $"status {status}";

    public static void Check(int status, string what)
    {
        if (status != Ok) throw new UcxException($"{what}: {Describe(status)}", status);
    }
}
