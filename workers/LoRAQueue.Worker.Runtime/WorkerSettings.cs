using System.Globalization;
using LoRAQueue.Core;
using LoRAQueue.Core.Costs;
using LoRAQueue.Hosting;
using LoRAQueue.Kernels;
using Microsoft.Extensions.Configuration;

namespace LoRAQueue.Worker;

/// <summary>The worker's configuration: LoRAQueue:Model:Path, LoRAQueue:AdapterStore:Path, LoRAQueue:Worker:* (bound as
/// <see cref="WorkerOptions"/>) and LoRAQueue:Recorder:Enabled.</summary>
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
    /// <summary>"cpu" (the forward pass over the weights) or "emulated" (the same engine, steps priced by <see cref="Profile"/>).</summary>
    public string Backend { get; init; } = EngineRuntime.CpuBackend;
    /// <summary>The accelerator profile whose cost model prices the emulated backend's steps; null on the cpu backend.</summary>
    public AcceleratorProfile? Profile { get; init; }
    /// <summary>Largest maxTokens a job may ask for (also capped by the model's context).</summary>
    public int MaxTokensLimit { get; init; } = 4096;
    /// <summary>Adapters kept loaded in the engine; the least recently used is unloaded beyond this.</summary>
    public int MaxResidentAdapters { get; init; } = 32;
    /// <summary>The host-cache arena: adapters' verified bytes, readable by peers.</summary>
    public long HostCacheBytes { get; init; } = 256L << 20;
    /// <summary>Bytes of pulls in flight at once.</summary>
    public long PullBudgetBytes { get; init; } = 256L << 20;
    /// <summary>How long one source (a peer, the store) has to deliver an adapter before the next is tried.</summary>
    public TimeSpan PullTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How often a resident adapter's registration is read again: one registered anew (other bytes) is loaded anew
    /// within this long, at one registry read per adapter per interval.</summary>
    public TimeSpan AdapterRecheck { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>"ucx": peers over UCX, found through Redis; "off": the store only.</summary>
    public string Peers { get; init; } = "ucx";
    /// <summary>"auto", "am" (active messages) or "get" (one-sided GET); see UcxAdapterExchange.Choose.</summary>
    public string PullMethod { get; init; } = "auto";
    /// <summary>How long a stopping worker lets in-flight jobs finish before returning them to the queue.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan LoadReportInterval { get; init; } = TimeSpan.FromSeconds(5);
    public bool RecorderEnabled { get; init; } = true;

    /// <summary>The validated settings (<see cref="SectionOptions.Read{T}"/>); a bad or missing one throws
    /// <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> naming the key.</summary>
    public static WorkerSettings From(IConfiguration configuration, RankBuckets buckets)
    {
        var worker = SectionOptions.Read<WorkerOptions>(configuration);
        string modelPath = SectionOptions.Read<ModelOptions>(configuration).Path!;
        string storePath = SectionOptions.Read<AdapterStoreOptions>(configuration).Path!;
        return new WorkerSettings
        {
            Id = worker.Id is { Length: > 0 } id ? id : $"{Environment.MachineName}-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}",
            ModelPath = Path.GetFullPath(modelPath),
            AdapterStorePath = Path.GetFullPath(storePath),
            RankQueues = worker.RankQueues is { Length: > 0 } text
                ? RankBuckets.ParseQueueList(text)
                : [null, .. buckets.Boundaries.Select(b => (int?)b)],
            MaxSequences = worker.MaxSequences,
            MaxBatchTokens = worker.MaxBatchTokens,
            KvCacheMb = worker.KvCacheMb,
            Kernel = worker.Kernel.Trim().ToLowerInvariant(),
            Backend = worker.BackendName,
            // Validated above (WorkerOptions.Problems read it): read again here.
            Profile = worker.BackendName == EngineRuntime.EmulatedBackendName ? AcceleratorProfiles.Resolve(worker.Profile!.Trim()) : null,
            MaxTokensLimit = worker.MaxTokens,
            MaxResidentAdapters = worker.MaxResidentAdapters,
            HostCacheBytes = (long)worker.HostCacheMb << 20,
            PullBudgetBytes = (long)worker.PullBudgetMb << 20,
            PullTimeout = TimeSpan.FromSeconds(worker.PullTimeoutSeconds),
            AdapterRecheck = TimeSpan.FromSeconds(worker.AdapterRecheckSeconds),
            Peers = worker.Peers.Trim().ToLowerInvariant(),
            PullMethod = worker.PullMethod.Trim().ToLowerInvariant(),
            DrainTimeout = TimeSpan.FromSeconds(worker.DrainTimeoutSeconds),
            LoadReportInterval = TimeSpan.FromSeconds(worker.LoadReportSeconds),
            RecorderEnabled = SectionOptions.Read<RecorderOptions>(configuration).Enabled,
        };
    }

    public string DescribeQueues() => string.Join(", ", RankQueues.Select(b => RankBuckets.QueueName(b)));
}

/// <summary>Section LoRAQueue:Worker (env LORAQUEUE__WORKER__KEY), as configured; <see cref="WorkerSettings"/> derives from it.</summary>
public sealed class WorkerOptions : ISectionOptions
{
    public static string Section => "LoRAQueue:Worker";
    /// <summary>Unset: host name and process id.</summary>
    public string? Id { get; set; }
    /// <summary>"base,8,lora-rank-16"; unset: every queue.</summary>
    public string? RankQueues { get; set; }
    public int MaxSequences { get; set; } = 16;
    public int MaxBatchTokens { get; set; } = 512;
    public int KvCacheMb { get; set; } = 64;
    public string Kernel { get; set; } = "segmented";
    /// <summary>"cpu" (default) or "emulated".</summary>
    public string Backend { get; set; } = EngineRuntime.CpuBackend;
    /// <summary>Emulated backend only: a built-in accelerator profile's name (a100) or the path of a profile JSON file.</summary>
    public string? Profile { get; set; }
    public int MaxTokens { get; set; } = 4096;
    public int MaxResidentAdapters { get; set; } = 32;
    public int HostCacheMb { get; set; } = 256;
    public int PullBudgetMb { get; set; } = 256;
    public double PullTimeoutSeconds { get; set; } = 30;
    public double AdapterRecheckSeconds { get; set; } = 30;
    public string Peers { get; set; } = "ucx";
    public string PullMethod { get; set; } = "auto";
    public double DrainTimeoutSeconds { get; set; } = 30;
    public double LoadReportSeconds { get; set; } = 5;

    public IEnumerable<string> Problems()
    {
        var problems = new List<string>();
        foreach (var (key, value) in new[] { (nameof(MaxSequences), MaxSequences), (nameof(MaxBatchTokens), MaxBatchTokens),
                     (nameof(KvCacheMb), KvCacheMb), (nameof(MaxTokens), MaxTokens), (nameof(MaxResidentAdapters), MaxResidentAdapters),
                     (nameof(HostCacheMb), HostCacheMb), (nameof(PullBudgetMb), PullBudgetMb) })
            problems.AddRange(OptionChecks.AtLeast(Section, key, value, 1));
        if (HostCacheMb > 2047) problems.Add($"{Section}:HostCacheMb must be at most 2047 (one arena; got {HostCacheMb})");
        problems.AddRange(OptionChecks.OneOf(Section, nameof(Peers), Peers, ["ucx", "off"]));
        problems.AddRange(OptionChecks.OneOf(Section, nameof(PullMethod), PullMethod, ["auto", "am", "get"]));
        problems.AddRange(OptionChecks.Seconds(Section, nameof(PullTimeoutSeconds), PullTimeoutSeconds, min: 0.001));
        problems.AddRange(OptionChecks.Seconds(Section, nameof(AdapterRecheckSeconds), AdapterRecheckSeconds));
        problems.AddRange(OptionChecks.OneOf(Section, nameof(Kernel), Kernel, [.. MultiLoraKernels.Names]));
        problems.AddRange(BackendProblems());
        problems.AddRange(OptionChecks.Seconds(Section, nameof(DrainTimeoutSeconds), DrainTimeoutSeconds));
        problems.AddRange(OptionChecks.Seconds(Section, nameof(LoadReportSeconds), LoadReportSeconds, min: 0.001));
        if (RankQueues is { Length: > 0 } queues)
        {
            try
            {
                if (RankBuckets.ParseQueueList(queues).Count == 0) problems.Add($"{Section}:RankQueues lists no queue (got '{queues}')");
            }
            catch (FormatException e)
            {
                problems.Add($"{Section}:RankQueues: {e.Message}");
            }
        }
        return problems;
    }

    internal string BackendName => (Backend ?? "").Trim().ToLowerInvariant();

    /// <summary>The backend is known; the emulated one has a profile that loads and a kernel the cost model prices; the cpu
    /// one has no profile (it would be ignored).</summary>
    private IEnumerable<string> BackendProblems()
    {
        var known = OptionChecks.OneOf(Section, nameof(Backend), Backend, EngineRuntime.Backends).ToList();
        if (known.Count > 0) return known;
        if (BackendName == EngineRuntime.CpuBackend)
        {
            return string.IsNullOrWhiteSpace(Profile) ? []
                : [$"{Section}:Profile is set ('{Profile}') but {Section}:Backend is cpu: a profile prices the steps of the emulated backend only"];
        }
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Profile))
        {
            problems.Add($"{Section}:Profile (env {OptionChecks.EnvName(Section, nameof(Profile))}) must name the accelerator profile that prices " +
                         $"the emulated backend's steps: a built-in one ({string.Join(", ", AcceleratorProfiles.BuiltinNames)}) or a profile JSON file");
        }
        else
        {
            try
            {
                AcceleratorProfiles.Resolve(Profile.Trim());
            }
            catch (ProfileValidationException e)
            {
                problems.Add($"{Section}:Profile: '{Profile}' is not a valid accelerator profile: {e.Message}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                problems.Add($"{Section}:Profile: {e.Message}");
            }
        }
        if (!MultiLoraKernels.Names.Contains(Kernel?.Trim() ?? "", StringComparer.OrdinalIgnoreCase)) return problems;
        try
        {
            EngineRuntime.KernelKind(Kernel!);
        }
        catch (ArgumentException e)
        {
            problems.Add(e.Message);
        }
        return problems;
    }
}

/// <summary>LoRAQueue:Recorder:Enabled: whether this worker also records job events into the history.</summary>
public sealed class RecorderOptions : ISectionOptions
{
    public static string Section => "LoRAQueue:Recorder";
    public bool Enabled { get; set; } = true;
    public IEnumerable<string> Problems() => [];
}
