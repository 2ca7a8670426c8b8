using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using LoRAQueue.Ucx.Interop;
using Xunit.Abstractions;

namespace LoRAQueue.Ucx.Tests;

/// <summary>Every struct the binding passes to libucp has the size and field offsets the C headers give: a small C program,
/// compiled here with cc against libucx-dev, prints them.</summary>
public sealed class UcpLayoutTests(ITestOutputHelper output)
{
    // C struct → (C# struct, C field for each C# field in order; "a.b" is a nested field).
    private static readonly (string C, Type Managed, string[] Fields)[] Structs =
    [
        ("ucp_params_t", typeof(UcpParams), ["field_mask", "features", "request_size", "request_init", "request_cleanup", "tag_sender_mask",
            "mt_workers_shared", "estimated_num_eps", "estimated_num_ppn", "name"]),
        ("ucp_worker_params_t", typeof(UcpWorkerParams), ["field_mask", "thread_mode", "cpu_mask", "events", "user_data", "event_fd", "flags",
            "name", "am_alignment", "client_id"]),
        ("ucp_ep_params_t", typeof(UcpEpParams), ["field_mask", "address", "err_mode", "err_handler.cb", "err_handler.arg", "user_data", "flags",
            "sockaddr", "conn_request", "name", "local_sockaddr"]),
        ("ucs_sock_addr_t", typeof(UcsSockAddr), ["addr", "addrlen"]),
        ("ucp_mem_map_params_t", typeof(UcpMemMapParams), ["field_mask", "address", "length", "flags", "prot", "memory_type"]),
        ("ucp_request_param_t", typeof(UcpRequestParam), ["op_attr_mask", "flags", "request", "cb", "datatype", "user_data", "reply_buffer",
            "memory_type", "recv_info", "memh"]),
        ("ucp_am_handler_param_t", typeof(UcpAmHandlerParam), ["field_mask", "id", "flags", "cb", "arg"]),
        ("ucp_am_recv_param_t", typeof(UcpAmRecvParam), ["recv_attr", "reply_ep"]),
        ("struct pollfd", typeof(PollFd), ["fd", "events", "revents"]),
    ];

    [Fact]
    public void Every_struct_matches_the_C_headers_field_for_field()
    {
        var c = CompileAndRun();
        foreach (var (name, managed, fields) in Structs)
        {
            var managedFields = managed.GetFields(BindingFlags.Instance | BindingFlags.Public);
            Assert.Equal(fields.Length, managedFields.Length);
            Assert.True(c.TryGetValue($"sizeof {name}", out var size), $"the C program printed no size for {name}");
            Assert.Equal((size, name), (Marshal.SizeOf(managed), name));
            for (int i = 0; i < fields.Length; i++)
            {
                int offset = (int)Marshal.OffsetOf(managed, managedFields[i].Name);
                Assert.Equal((c[$"offsetof {name} {fields[i]}"], $"{name}.{fields[i]}"), (offset, $"{name}.{fields[i]}"));
            }
        }
        // Constants the binding hard-codes.
        Assert.Equal((c["UCP_API_MAJOR"], c["UCP_API_MINOR"]), ((int)Ucp.ApiMajor, (int)Ucp.ApiMinor));
        Assert.Equal((int)Ucp.FeatureRma, c["UCP_FEATURE_RMA"]);
        Assert.Equal((int)Ucp.FeatureAm, c["UCP_FEATURE_AM"]);
        Assert.Equal((int)Ucp.ProtRemoteRead, c["UCP_MEM_MAP_PROT_REMOTE_READ"]);
        Assert.Equal(Ucp.ErrHandlingModePeer, c["UCP_ERR_HANDLING_MODE_PEER"]);
        Assert.Equal((int)Ucp.OpAttrFieldFlags, c["UCP_OP_ATTR_FIELD_FLAGS"]);
        Assert.Equal(Ucp.ErrLast, c["UCS_ERR_LAST"]);
        Assert.Equal((int)Ucp.AmHandlerParamFieldCb, c["UCP_AM_HANDLER_PARAM_FIELD_CB"]);
        Assert.Equal((int)Ucp.AmSendFlagReply, c["UCP_AM_SEND_FLAG_REPLY"]);
        Assert.Equal((int)Ucp.AmRecvAttrFlagRndv, c["UCP_AM_RECV_ATTR_FLAG_RNDV"]);
        Assert.Equal((int)Ucp.FeatureWakeup, c["UCP_FEATURE_WAKEUP"]);
        Assert.Equal((int)Ucp.WorkerParamFieldEvents, c["UCP_WORKER_PARAM_FIELD_EVENTS"]);
        Assert.Equal(((int)Ucp.WakeupTx, (int)Ucp.WakeupRx), (c["UCP_WAKEUP_TX"], c["UCP_WAKEUP_RX"]));
        Assert.Equal(Ucp.ErrBusy, c["UCS_ERR_BUSY"]);
        Assert.Equal((int)Libc.PollIn, c["POLLIN"]);
        Assert.Equal(Libc.EINTR, c["EINTR"]);
    }

    private Dictionary<string, int> CompileAndRun()
    {
        Assert.True(File.Exists("/usr/include/ucp/api/ucp.h"),
            "UCX headers missing: scripts/test.sh installs libucx-dev (apt-get install libucx-dev)");
        var dir = Directory.CreateTempSubdirectory("ucp-layout-").FullName;
        var lines = new List<string> { "#include <stdio.h>", "#include <stddef.h>", "#include <poll.h>", "#include <errno.h>", "#include <ucp/api/ucp.h>", "int main(void) {" };
        foreach (var (name, _, fields) in Structs)
        {
            lines.Add($"printf(\"sizeof {name} %zu\\n\", sizeof({name}));");
            lines.AddRange(fields.Select(f => $"printf(\"offsetof {name} {f} %zu\\n\", offsetof({name}, {f}));"));
        }
        foreach (var constant in (string[])["UCP_API_MAJOR", "UCP_API_MINOR", "UCP_FEATURE_RMA", "UCP_FEATURE_AM", "UCP_MEM_MAP_PROT_REMOTE_READ",
                                            "UCP_ERR_HANDLING_MODE_PEER", "UCP_OP_ATTR_FIELD_FLAGS", "UCS_ERR_LAST",
                                            "UCP_AM_HANDLER_PARAM_FIELD_CB", "UCP_AM_SEND_FLAG_REPLY", "UCP_AM_RECV_ATTR_FLAG_RNDV",
                                            "UCP_FEATURE_WAKEUP", "UCP_WORKER_PARAM_FIELD_EVENTS", "UCP_WAKEUP_TX", "UCP_WAKEUP_RX",
                                            "UCS_ERR_BUSY", "POLLIN", "EINTR"])
            lines.Add($"printf(\"{constant} %d\\n\", (int)({constant}));");
        lines.Add("return 0; }");
        File.WriteAllLines(Path.Combine(dir, "layout.c"), lines);
        Run("cc", "-o", Path.Combine(dir, "layout"), Path.Combine(dir, "layout.c"));
        var printed = Run(Path.Combine(dir, "layout"));
        output.WriteLine(printed);
        Directory.Delete(dir, recursive: true);
        return printed.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .ToDictionary(l => l[..l.LastIndexOf(' ')], l => int.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static string Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string stdout = process.StandardOutput.ReadToEnd(), stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} exited {process.ExitCode}: {stderr}");
        return stdout;
    }
}
