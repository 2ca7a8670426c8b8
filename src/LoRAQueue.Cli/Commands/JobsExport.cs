using LoRAQueue.History;
using LoRAQueue.Workloads;

namespace LoRAQueue.Cli.Commands;

/// <summary>
/// `loraqueue jobs export`: the job history as a request trace (<see cref="JobHistoryCsv"/>), which
/// <see cref="TraceReader"/> reads back — history → trace → `demo --trace`, `bench placement --trace` or the twin.
/// Pages through <see cref="IJobHistory.ListAsync"/> (newest first, <see cref="JobQuery.MaxLimit"/> a page) with the
/// filters `jobs list` takes; jobs without both token counts (queued, running, most failed ones) are skipped and counted.
/// </summary>
internal static class JobsExport
{
    public sealed record Result(int Written, int Skipped, int Pages);

    public static async Task<Result> WriteAsync(IJobHistory history, JobQuery filters, TextWriter writer, CancellationToken ct)
    {
        await writer.WriteAsync(JobHistoryCsv.Header + "\n");
        string? after = null;
        int written = 0, skipped = 0, pages = 0;
        do
        {
            var page = await history.ListAsync(filters with { Limit = JobQuery.MaxLimit, After = after }, ct);
            pages++;
            foreach (var j in page.Items)
            {
                if (j.PromptTokens is not { } prompt || j.OutputTokens is not { } output)
                {
                    skipped++;
                    continue;
                }
                await writer.WriteAsync(JobHistoryCsv.Row(j.JobId, j.Tenant, j.AdapterId, j.RankBucket, JobStatuses.Name(j.Status), j.SubmittedAt,
                                                          prompt, output) + "\n");
                written++;
            }
            after = page.Next;
        }
        while (after is not null);
        return new Result(written, skipped, pages);
    }

    /// <summary>Writes to <paramref name="path"/> through a temporary file, so a failed export leaves no half file.</summary>
    public static async Task<Result> WriteFileAsync(IJobHistory history, JobQuery filters, string path, CancellationToken ct)
    {
        var full = Path.GetFullPath(path);
        if (Path.GetDirectoryName(full) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
        var tmp = full + ".tmp";
        try
        {
            Result result;
            await using (var writer = new StreamWriter(tmp))
                result = await WriteAsync(history, filters, writer, ct);
            File.Move(tmp, full, overwrite: true);
            return result;
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }
}
