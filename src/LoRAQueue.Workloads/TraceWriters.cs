using System.Globalization;

namespace LoRAQueue.Workloads;

/// <summary>
/// Writes a workload in the LoRAServe / S-LoRA CSV format (<see cref="TraceReader.LoRAServeHeader"/>), which
/// <see cref="TraceReader"/>, <c>loraqueue demo --trace</c> and <c>bench placement --trace</c> replay. The format
/// names an adapter with its rank on every row: <c>adapter_dir</c> is <c>adapters/&lt;id&gt;</c> when the id already
/// carries its rank (<c>lora-rank-16-4</c>), else <c>adapters/&lt;id&gt;-rank-&lt;r&gt;</c>. <c>req_time</c> is in seconds
/// with 7 decimals (whole ticks), so arrivals survive the round trip exactly.
/// </summary>
public static class LoRAServeCsv
{
    public const string DefaultModelDir = "base-model";

    public static void Write(Workload workload, string path, string modelDir = DefaultModelDir)
    {
        var full = Path.GetFullPath(path);
        if (Path.GetDirectoryName(full) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
        var tmp = full + ".tmp";
        using (var writer = new StreamWriter(tmp))
            Write(workload, writer, modelDir);
        File.Move(tmp, full, overwrite: true);
    }

    public static void Write(Workload workload, TextWriter writer, string modelDir = DefaultModelDir)
    {
        writer.Write(TraceReader.LoRAServeHeader);
        writer.Write('\n');
        var model = Csv.Field(modelDir);
        for (int i = 0; i < workload.Requests.Count; i++)
        {
            var r = workload.Requests[i];
            if (r.AdapterId is null || r.Rank is null)
                throw new ArgumentException($"request {i} has no adapter{(r.AdapterId is null ? "" : " rank")}: every LoRAServe row names an adapter and its rank (assign adapters first)", nameof(workload));
            writer.Write(string.Create(CultureInfo.InvariantCulture,
                $"{i},{model},{Csv.Field("adapters/" + AdapterDirName(r.AdapterId, r.Rank.Value))},{r.InputTokens},{r.OutputTokens},{r.Arrival.Ticks / (double)TimeSpan.TicksPerSecond:0.0######}"));
            writer.Write('\n');
        }
    }

    /// <summary>The adapter's directory name: its id when that already carries the rank, else the id with "-rank-&lt;r&gt;".</summary>
    public static string AdapterDirName(string adapterId, int rank)
    {
        if (adapterId.Contains('/') || adapterId.Contains('\\'))
            throw new ArgumentException($"adapter id '{adapterId}' holds a path separator", nameof(adapterId));
        return TraceReader.RankFromAdapterName(adapterId) == rank
            ? adapterId
            : string.Create(CultureInfo.InvariantCulture, $"{adapterId}-rank-{rank}");
    }
}

/// <summary>
/// The job history export's CSV (<c>loraqueue jobs export</c>): one row per job with token counts, read back by
/// <see cref="TraceReader"/> as <see cref="TraceFormat.JobHistory"/>. <c>submitted_at</c> is UTC ISO 8601 to the
/// microsecond (the history's precision), an empty <c>adapter_id</c> and <c>rank_bucket</c> the base model.
/// </summary>
public static class JobHistoryCsv
{
    public const string Header = "job_id,tenant,adapter_id,rank_bucket,status,submitted_at,prompt_tokens,output_tokens";

    public static string Row(Guid jobId, string tenant, string? adapterId, int? rankBucket, string status, DateTimeOffset submittedAt,
                             int promptTokens, int outputTokens) =>
        string.Join(',',
            jobId.ToString(), Csv.Field(tenant), Csv.Field(adapterId), rankBucket?.ToString(CultureInfo.InvariantCulture) ?? "", Csv.Field(status),
            submittedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
            promptTokens.ToString(CultureInfo.InvariantCulture), outputTokens.ToString(CultureInfo.InvariantCulture));
}
