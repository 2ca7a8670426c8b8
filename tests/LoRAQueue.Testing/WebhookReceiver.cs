using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Testing;

/// <summary>A request as the receiver saw it.</summary>
public sealed record ReceivedRequest(string Path, string? Id, string? Timestamp, string? Signature, string? ContentType, string Body,
    string? TraceParent = null);

/// <summary>A real HTTP server on 127.0.0.1 that records every request and answers <see cref="StatusCode"/>. It can be
/// stopped and started again on the same port, to play a receiver that is down for a while.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private WebApplication? _app;

    private WebhookReceiver(int port) => Port = port;

    public int Port { get; }
    public string Url => $"http://127.0.0.1:{Port}/hooks/lora";
    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();
    public int StatusCode { get; set; } = 200;

    /// <summary>A receiver with a port of its own, not yet listening (so connections are refused).</summary>
    public static WebhookReceiver Reserve() => new(LoopbackPort.Free());

    public static async Task<WebhookReceiver> StartNewAsync()
    {
        var receiver = Reserve();
        await receiver.StartAsync();
        return receiver;
    }

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{Port}");
        var app = builder.Build();
        app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            string body = await reader.ReadToEndAsync();
            var headers = context.Request.Headers;
            Requests.Enqueue(new ReceivedRequest(context.Request.Path, headers["webhook-id"], headers["webhook-timestamp"],
                                                 headers["webhook-signature"], context.Request.ContentType, body, headers["traceparent"]));
            context.Response.StatusCode = StatusCode;
            await context.Response.WriteAsync(StatusCode >= 300 ? "receiver says no" : "ok");
        });
        await app.StartAsync();
        _app = app;
    }

    public async Task StopAsync()
    {
        if (_app is null) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
        _app = null;
    }

    public ValueTask DisposeAsync() => new(StopAsync());
}
