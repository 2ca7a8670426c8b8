using System.Globalization;
using LoRAQueue.Core;
using LoRAQueue.Messaging;
using Microsoft.Extensions.Configuration;

namespace LoRAQueue.Worker;

/// <summary>The worker's configuration: LoRAQueue:Model:Path, LoRAQueue:AdapterStore:Path and LoRAQueue:Worker:*.</summary>
public sealed record WorkerSettings
{
    public required string Id { get; init; }
    public required string ModelPath { get; init; }
    public required string AdapterStorePath { get; init; }
    /// <summary>Buckets whose queues this worker consumes; null = lora-base.</summary>
    public required IReadOnlyList<int?> RankQueues { get; init; }
    public int MaxSequences { get; init; } = 16;
    public int MaxBatchTokens { get; init; } = 512;
    public int KvCacheMb { get; init; } = 64;
    public string Kernel { get; init; } = "segmented";
    /// <summary>Largest maxTokens a job may ask for (also capped by the model's context).</summary>
    public int MaxTokensLimit { get; init; } = 4096;
    /// <summary>Adapters kept loaded in the engine; the least recently used is unloaded beyond this.</summary>
    public int MaxResidentAdapters { get; init; } = 32;
    /// <summary>How long a stopping worker lets in-flight jobs finish before returning them to the queue.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan LoadReportInterval { get; init; } = TimeSpan.FromSeconds(5);
    public bool RecorderEnabled { get; init; } = true;

    public static WorkerSettings From(IConfiguration configuration, RankBuckets buckets)
    {
        var worker = configuration.GetSection("LoRAQueue:Worker");
        var modelPath = configuration["LoRAQueue:Model:Path"];
        if (string.IsNullOrWhiteSpace(modelPath))
            throw new InvalidOperationException("configuration LoRAQueue:Model:Path (env LORAQUEUE__MODEL__PATH) must name the base model directory");
        var storePath = configuration["LoRAQueue:AdapterStore:Path"];
        if (string.IsNullOrWhiteSpace(storePath))
            throw new InvalidOperationException("configuration LoRAQueue:AdapterStore:Path (env LORAQUEUE__ADAPTERSTORE__PATH) must name the adapter store directory");
        var queues = worker["RankQueues"] is { Length: > 0 } text
            ? RankBuckets.ParseQueueList(text)
            : [null, .. buckets.Boundaries.Select(b => (int?)b)];
        if (queues.Count == 0) throw new InvalidOperationException("configuration LoRAQueue:Worker:RankQueues lists no queue");

        var d = new WorkerSettings { Id = "", ModelPath = "", AdapterStorePath = "", RankQueues = [] };
        return new WorkerSettings
        {
            Id = worker["Id"] is { Length: > 0 } id ? id : $"{Environment.MachineName}-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}",
            ModelPath = Path.GetFullPath(modelPath),
            AdapterStorePath = Path.GetFullPath(storePath),
            RankQueues = queues,
            MaxSequences = ConfigValues.PositiveInt(worker, "MaxSequences") ?? d.MaxSequences,
            MaxBatchTokens = ConfigValues.PositiveInt(worker, "MaxBatchTokens") ?? d.MaxBatchTokens,
            KvCacheMb = ConfigValues.PositiveInt(worker, "KvCacheMb") ?? d.KvCacheMb,
            Kernel = worker["Kernel"] is { Length: > 0 } kernel ? kernel : d.Kernel,
            MaxTokensLimit = ConfigValues.PositiveInt(worker, "MaxTokens") ?? d.MaxTokensLimit,
            MaxResidentAdapters = ConfigValues.PositiveInt(worker, "MaxResidentAdapters") ?? d.MaxResidentAdapters,
            DrainTimeout = ConfigValues.Seconds(worker, "DrainTimeoutSeconds") ?? d.DrainTimeout,
            LoadReportInterval = ConfigValues.Seconds(worker, "LoadReportSeconds") is { } interval && interval > TimeSpan.Zero
                ? interval : d.LoadReportInterval,
            RecorderEnabled = ConfigValues.Bool(configuration.GetSection("LoRAQueue:Recorder"), "Enabled") ?? d.RecorderEnabled,
        };
    }

    public string DescribeQueues() => string.Join(", ", RankQueues.Select(b => RankBuckets.QueueName(b)));
}
