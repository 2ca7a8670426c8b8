using System.CommandLine;
using System.Globalization;
using LoRAQueue.History;
using LoRAQueue.Workloads;
using Spectre.Console;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue jobs list|show|export`: the job history in Postgres.</summary>
internal static class JobsCommands
{
    public static Command Create()
    {
        var command = new Command("jobs", "Query the job history");
        command.Subcommands.Add(ListCommand());
        command.Subcommands.Add(ShowCommand());
        command.Subcommands.Add(ExportCommand());
        return command;
    }

    private static Command ExportCommand()
    {
        var output = new Option<FileInfo>("--out") { Description = "The CSV to write (a request trace: `workload describe`, `demo --trace`, `bench placement --trace` read it)", Required = true };
        var tenant = new Option<string?>("--tenant") { Description = "Only this tenant's jobs" };
        var adapter = new Option<string?>("--adapter") { Description = "Only jobs of this adapter" };
        var status = new Option<string?>("--status") { Description = "queued, running, completed or failed" };
        var since = new Option<string?>("--since") { Description = "Submitted at or after: ISO 8601 time or an age (30m, 2h, 7d)" };
        var until = new Option<string?>("--until") { Description = "Submitted before: ISO 8601 time or an age" };
        var connection = DatabaseAccess.ConnectionOption();
        var command = new Command("export",
            "Write the jobs with token counts as a request trace: " + JobHistoryCsv.Header + " (newest first, a page of " + JobQuery.MaxLimit + " at a time)")
        {
            output, tenant, adapter, status, since, until, connection,
        };
        command.SetAction((parse, ct) => DatabaseAccess.RunAsync(parse, connection, async (dataSource, _, token) =>
        {
            var now = DateTimeOffset.UtcNow;
            var filters = new JobQuery(parse.GetValue(tenant), parse.GetValue(adapter), JobFilters.Status(parse.GetValue(status)),
                JobFilters.Time(parse.GetValue(since), "--since", now), JobFilters.Time(parse.GetValue(until), "--until", now));
            var path = parse.GetValue(output)!.FullName;
            JobsExport.Result result;
            try
            {
                result = await JobsExport.WriteFileAsync(new PostgresJobHistory(dataSource), filters, path, token);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"--out {path}: {e.Message}");
            }
            parse.InvocationConfiguration.Output.WriteLine(
                $"exported {result.Written} jobs to {path}" + (result.Skipped > 0 ? $" ({result.Skipped} without token counts skipped)" : ""));
            return 0;
        }, ct));
        return command;
    }

    private static Command ListCommand()
    {
        var tenant = new Option<string?>("--tenant") { Description = "Only this tenant's jobs" };
        var adapter = new Option<string?>("--adapter") { Description = "Only jobs of this adapter" };
        var status = new Option<string?>("--status") { Description = "queued, running, completed or failed" };
        var since = new Option<string?>("--since") { Description = "Submitted at or after: ISO 8601 time or an age (30m, 2h, 7d)" };
        var until = new Option<string?>("--until") { Description = "Submitted before: ISO 8601 time or an age" };
        var limit = new Option<int>("--limit") { Description = $"Jobs per page (1 to {JobQuery.MaxLimit})", DefaultValueFactory = _ => 50 };
        var after = new Option<string?>("--after") { Description = "The cursor a previous page printed, for the next page" };
        var json = new Option<bool>("--json") { Description = "Print {\"items\": [...], \"next\": cursor} as JSON" };
        var connection = DatabaseAccess.ConnectionOption();
        var command = new Command("list", "List jobs, newest first, a page at a time")
        {
            tenant, adapter, status, since, until, limit, after, json, connection,
        };
        command.SetAction((parse, ct) => DatabaseAccess.RunAsync(parse, connection, async (dataSource, _, token) =>
        {
            var now = DateTimeOffset.UtcNow;
            var query = new JobQuery(parse.GetValue(tenant), parse.GetValue(adapter), JobFilters.Status(parse.GetValue(status)),
                JobFilters.Time(parse.GetValue(since), "--since", now), JobFilters.Time(parse.GetValue(until), "--until", now),
                JobFilters.Limit(parse.GetValue(limit)), parse.GetValue(after));
            JobPage page;
            try
            {
                page = await new PostgresJobHistory(dataSource).ListAsync(query, token);
            }
            catch (ArgumentException e) // a cursor that is not one
            {
                throw new CliException($"--after {e.Message.Split(" (Parameter", 2)[0]}");
            }
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(output, new { page.Items, page.Next });
                return 0;
            }
            var table = new Table().AddColumns("job", "status", "tenant", "adapter", "bucket", "submitted (UTC)", "worker", "output tokens", "total ms");
            foreach (var j in page.Items)
                table.AddRow(j.JobId.ToString(), Status(j.Status), Markup.Escape(j.Tenant), Markup.Escape(j.AdapterId ?? "(base)"),
                    j.RankBucket?.ToString(CultureInfo.InvariantCulture) ?? "base", Time(j.SubmittedAt), Markup.Escape(j.Worker ?? ""),
                    j.OutputTokens?.ToString(CultureInfo.InvariantCulture) ?? "", j.TotalMs?.ToString("F0", CultureInfo.InvariantCulture) ?? "");
            foreach (int column in new[] { 4, 7, 8 }) table.Columns[column].RightAligned();
            var console = CliOutput.ConsoleFor(output);
            console.Write(table);
            console.WriteLine(page.Next is null
                ? $"{page.Items.Count} jobs (last page)"
                : $"{page.Items.Count} jobs; next page: --after {page.Next}");
            return 0;
        }, ct));
        return command;
    }

    private static Command ShowCommand()
    {
        var id = new Argument<string>("id") { Description = "Job id" };
        var json = new Option<bool>("--json") { Description = "Print the job as JSON" };
        var connection = DatabaseAccess.ConnectionOption();
        var command = new Command("show", "Show one job: status, timings, prompt and output") { id, json, connection };
        command.SetAction((parse, ct) => DatabaseAccess.RunAsync(parse, connection, async (dataSource, _, token) =>
        {
            var jobId = JobFilters.JobId(parse.GetValue(id)!);
            var job = await new PostgresJobHistory(dataSource).GetAsync(jobId, token)
                      ?? throw new CliException($"no job {jobId} in the history");
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(output, job);
                return 0;
            }
            var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
            void Row(string name, string? value)
            {
                if (!string.IsNullOrEmpty(value)) grid.AddRow(new Text(name, new Style(decoration: Decoration.Bold)), new Text(value));
            }
            Row("job", job.JobId.ToString());
            Row("status", JobStatuses.Name(job.Status));
            Row("tenant", job.Tenant);
            Row("adapter", job.AdapterId ?? "(base model)");
            Row("rank bucket", job.RankBucket?.ToString(CultureInfo.InvariantCulture) ?? "base");
            Row("worker", job.Worker);
            Row("submitted", Time(job.SubmittedAt));
            Row("started", job.StartedAt is { } s ? Time(s) : null);
            Row(job.Status == JobStatus.Failed ? "failed" : "completed", job.CompletedAt is { } c ? Time(c) : null);
            Row("error", job.ErrorCode is null ? null : $"{job.ErrorCode}: {job.ErrorMessage}");
            Row("tokens", job.PromptTokens is null ? null : $"{job.PromptTokens} prompt, {job.OutputTokens} output ({job.FinishReason})");
            Row("timings", job.TotalMs is null ? null : string.Create(CultureInfo.InvariantCulture,
                $"queue {job.QueueMs:F1} ms, wait {job.WaitMs:F1} ms, TTFT {job.TtftMs:F1} ms, TPOT {job.TpotMs:F2} ms, total {job.TotalMs:F1} ms"));
            Row("adapter load", job.AdapterSource is null ? null
                : string.Create(CultureInfo.InvariantCulture, $"{job.AdapterSource}, {job.AdapterLoadMs:F1} ms"));
            Row("webhook", job.WebhookUrl);
            Row("trace", job.TraceId);
            Row("metadata", job.Metadata is { Count: > 0 } m ? string.Join(", ", m.Select(kv => $"{kv.Key}={kv.Value}")) : null);
            Row("prompt", job.Prompt);
            Row("output", job.OutputText);
            CliOutput.ConsoleFor(output).Write(grid);
            return 0;
        }, ct));
        return command;
    }

    private static string Status(JobStatus status) => status switch
    {
        JobStatus.Completed => "[green]completed[/]",
        JobStatus.Failed => "[red]failed[/]",
        _ => JobStatuses.Name(status),
    };

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture);
}
