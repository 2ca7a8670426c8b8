using System.Runtime.InteropServices;

namespace LoRAQueue.Ucx.Interop;

/// <summary>The two libc calls the progress thread needs: <c>poll</c> on the worker's event fd, and <c>gettid</c> to find
/// the thread in /proc.</summary>
internal static unsafe partial class Libc
{
    private const string Library = "libc.so.6";
    public const short PollIn = 0x1;
    public const int EINTR = 4;

    [LibraryImport(Library, SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport(Library)]
    public static partial int gettid();
}

/// <summary>struct pollfd (poll.h).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    public int Fd;
    public short Events;
    public short Revents;
}
