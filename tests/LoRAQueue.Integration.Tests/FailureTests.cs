using System.Text;
using LoRAQueue.Contracts;
using LoRAQueue.History;
using LoRAQueue.Messaging;
using RabbitMQ.Client;
using Xunit.Abstractions;

namespace LoRAQueue.Integration.Tests;

[Collection(PipelineCollection.Name)]
public sealed class FailureTests(ModelFiles files, ITestOutputHelper output)
{
    [Fact]
    public async Task Bad_jobs_end_as_failed_jobs_or_error_messages_with_a_reason_and_the_worker_keeps_serving()
    {
        await using var pipeline = await Pipeline.CreateAsync(files);
        // An adapter that is registered but whose files then disappear from the store.
        var vanishing = $"vanishing-{Guid.NewGuid():N}"[..20];
        CopyDirectory(Path.Combine(files.AdapterStorePath, "r8"), Path.Combine(files.AdapterStorePath, vanishing));
        await pipeline.Registry.RegisterAsync(vanishing, Pipeline.Tenant, CancellationToken.None);
        Directory.Delete(Path.Combine(files.AdapterStorePath, vanishing), recursive: true);
        // And one whose weights are truncated on disk after registration: not the registered bytes, never served.
        var changed = $"changed-{Guid.NewGuid():N}"[..20];
        CopyDirectory(Path.Combine(files.AdapterStorePath, "r8"), Path.Combine(files.AdapterStorePath, changed));
        await pipeline.Registry.RegisterAsync(changed, Pipeline.Tenant, CancellationToken.None);
        var weights = Directory.GetFiles(Path.Combine(files.AdapterStorePath, changed), "*.safetensors").Single();
        await using (var file = new FileStream(weights, FileMode.Open)) file.SetLength(file.Length - 64);
        var worker = await pipeline.StartWorkerAsync("w-guard", "base,8");

        // Unparseable bytes and a job nobody could answer go to lora-base_error with MassTransit's fault headers.
        await pipeline.PublishRawAsync("lora-base", "{ this is not json");
        await pipeline.PublishRawAsync("lora-base", """{"tenant":"acme","prompt":"who am I?","maxTokens":4}""");
        await pipeline.PublishRawAsync("lora-base", """{"jobId":"not-a-guid","tenant":"acme","prompt":"typed wrong","maxTokens":4}""");

        // Jobs that can never run become failed jobs with a reason code.
        var expected = new Dictionary<Guid, string>();
        async Task Raw(string queue, string reason, string fields)
        {
            var id = Guid.NewGuid();
            expected[id] = reason;
            await pipeline.PublishRawAsync(queue, $$"""{"jobId":"{{id}}","tenant":"acme",{{fields}}}""");
        }
        await Raw("lora-rank-8", FailureReasons.UnknownAdapter, """ "adapterId":"ghost","prompt":"hello","maxTokens":4 """);
        await Raw("lora-rank-8", FailureReasons.UnknownAdapter, $$""" "adapterId":"{{vanishing}}","prompt":"hello","maxTokens":4 """);
        await Raw("lora-rank-8", FailureReasons.UnknownAdapter, $$""" "adapterId":"{{changed}}","prompt":"hello","maxTokens":4 """);
        await Raw("lora-base", FailureReasons.PromptTooLong,
            $$""" "prompt":"{{string.Join(' ', Enumerable.Repeat("overflowing", 700))}}","maxTokens":4 """);
        await Raw("lora-base", FailureReasons.InvalidRequest, """ "prompt":"   ","maxTokens":4 """);
        await Raw("lora-base", FailureReasons.InvalidMaxTokens, """ "prompt":"hello","maxTokens":0 """);
        await Raw("lora-base", FailureReasons.InvalidRequest, """ "prompt":"hello","maxTokens":4,"sampling":{"topP":0} """);
        await Raw("lora-base", FailureReasons.InvalidRequest, """ "schemaVersion":99,"prompt":"hello","maxTokens":4 """);

        var failed = await pipeline.WaitForJobsAsync(expected.Keys, JobStatus.Failed);
        foreach (var job in failed)
        {
            output.WriteLine($"{job.ErrorCode}: {job.ErrorMessage}");
            Assert.Equal(expected[job.JobId], job.ErrorCode);
            Assert.False(string.IsNullOrWhiteSpace(job.ErrorMessage));
            Assert.Equal("w-guard", job.Worker);
        }
        Assert.Contains("ghost", failed.Single(j => j.ErrorMessage!.Contains("not registered")).ErrorMessage);
        Assert.Contains("missing", failed.Single(j => j.ErrorMessage!.Contains(vanishing)).ErrorMessage);
        Assert.Contains("is not the registered one", failed.Single(j => j.ErrorMessage!.Contains(changed)).ErrorMessage);
        Assert.Contains("adapter_model.safetensors", failed.Single(j => j.ErrorMessage!.Contains(changed)).ErrorMessage);

        var errors = await TakeErrorsAsync(pipeline, "lora-base_error", 3);
        var unparseable = errors.Single(e => Encoding.UTF8.GetString(e.Body.Span) == "{ this is not json");
        var mistyped = errors.Single(e => Encoding.UTF8.GetString(e.Body.Span).Contains("not-a-guid"));
        var unanswerable = errors.Single(e => e != unparseable && e != mistyped);
        foreach (var e in errors)
        {
            output.WriteLine($"{Header(e, "MT-Fault-ExceptionType")}: {Header(e, "MT-Fault-Message")}");
            Assert.Equal("fault", Header(e, "MT-Reason"));
            Assert.False(string.IsNullOrWhiteSpace(Header(e, "MT-Fault-Message")));
        }
        Assert.Contains("jobId", Header(unanswerable, "MT-Fault-Message"));
        Assert.Contains("prompt", Encoding.UTF8.GetString(unanswerable.Body.Span)); // the original bytes, kept for replay

        // A job that expires in a queue nobody serves is dead-lettered with the broker's reason, not dropped.
        await pipeline.PublishRawAsync("lora-rank-16", """{"jobId":"0b7d1f4e-2c64-4a43-9d7e-3f1c9a1e5b20","prompt":"late"}""", expiration: "1");
        var dead = await TakeErrorsAsync(pipeline, "lora-dead-letter", 1);
        Assert.Equal("expired", Header(dead[0], "x-first-death-reason"));
        Assert.Equal("lora-rank-16", Header(dead[0], "x-first-death-queue"));
        Assert.Contains("0b7d1f4e", Encoding.UTF8.GetString(dead[0].Body.Span));

        // The .NET API refuses an unregistered adapter before anything is sent.
        var refused = await Assert.ThrowsAsync<LoRAQueue.Admission.JobRejectedException>(() => pipeline.Intake.SubmitAsync(pipeline.Job("ghost")));
        Assert.Equal(FailureReasons.UnknownAdapter, refused.Rejection.Code);

        // …and the worker is still serving.
        Assert.False(worker.HasExited);
        var good = pipeline.Job("r8");
        await pipeline.Intake.SubmitAsync(good);
        await pipeline.WaitForJobAsync(good.JobId, JobStatus.Completed);
        Assert.Equal(0u, await pipeline.QueueDepthAsync("lora-base"));
        Assert.Equal(0u, await pipeline.QueueDepthAsync("lora-rank-8"));
    }

    private static async Task<List<BasicGetResult>> TakeErrorsAsync(Pipeline pipeline, string queue, int count)
    {
        var taken = new List<BasicGetResult>();
        await Eventually.WaitAsync(async () =>
        {
            if (await pipeline.TakeAsync(queue) is { } message) taken.Add(message);
            return taken.Count;
        }, n => n >= count, $"{count} messages in {queue}", diagnostics: pipeline.WorkerOutput);
        return taken;
    }

    private static string Header(BasicGetResult message, string name) =>
        message.BasicProperties.Headers?.TryGetValue(name, out var value) == true
            ? value switch { byte[] bytes => Encoding.UTF8.GetString(bytes), _ => value?.ToString() ?? "" }
            : "";

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }
}
