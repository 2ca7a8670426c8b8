namespace LoRAQueue.Workloads.Tests;

/// <summary>The LoRAServe writer's round trip through the reader, the job history export's rows, and the summary
/// `workload describe` prints.</summary>
public sealed class WriterAndSummaryTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_generated_workload_written_as_LoRAServe_csv_reads_back_the_same()
    {
        var generated = WorkloadGenerator.Generate(new SyntheticWorkloadOptions
        {
            Kind = ArrivalKind.Gamma, Rate = 30, Cv = 3, Duration = TimeSpan.FromSeconds(120), Adapters = 40, Alpha = 1.1,
            Ranks = RankMix.Parse("8:0.5,16:0.25,128:0.25"),
            Lengths = LengthModel.Empirical(new Workload("t", [new(TimeSpan.Zero, 100, 7), new(TimeSpan.FromSeconds(1), 3000, 900)])),
            Seed = 8,
        });
        var path = Path.Combine(_dir.Path, "sub", "generated.csv");

        LoRAServeCsv.Write(generated, path);
        var read = TraceReader.Read(path);

        Assert.Equal(TraceFormat.LoRAServe, read.Format);
        Assert.Equal(generated.Requests, read.Requests);
        Assert.Equal(generated.Adapters, read.Adapters);
        Assert.Equal(TraceReader.LoRAServeHeader, File.ReadLines(path).First());
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void Adapter_ids_without_their_rank_get_it_appended_so_the_file_reads_back_with_ranks()
    {
        var w = new Workload("jobs", [new(TimeSpan.Zero, 5, 6, "ad-32", 32), new(TimeSpan.FromTicks(1_234_567), 7, 8, "x-rank-8-1", 8)]);
        using var text = new StringWriter();

        LoRAServeCsv.Write(w, text);

        Assert.Equal("""
            req_id,model_dir,adapter_dir,prompt_len,output_len,req_time
            0,base-model,adapters/ad-32-rank-32,5,6,0.0
            1,base-model,adapters/x-rank-8-1,7,8,0.1234567

            """.ReplaceLineEndings("\n"), text.ToString());
        var read = TraceReader.Read(_dir.File("w.csv", text.ToString()));
        Assert.Equal([32, 8], read.Requests.Select(r => r.Rank));
        Assert.Equal([w.Requests[0].Arrival, w.Requests[1].Arrival], read.Requests.Select(r => r.Arrival));
    }

    [Fact]
    public void A_request_without_an_adapter_cannot_be_written_as_LoRAServe()
    {
        var w = new Workload("azure", [new(TimeSpan.Zero, 5, 6)]);

        var e = Assert.Throws<ArgumentException>(() => LoRAServeCsv.Write(w, new StringWriter()));
        Assert.Contains("request 0 has no adapter", e.Message);
    }

    [Fact]
    public void Job_history_rows_read_back_as_the_jobs_they_came_from()
    {
        var t0 = new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero).AddTicks(1_234_560);
        var rows = new[]
        {
            JobHistoryCsv.Row(Guid.NewGuid(), "acme", "ad-8", 8, "completed", t0, 10, 20),
            JobHistoryCsv.Row(Guid.NewGuid(), "a \"quoted\", tenant", null, null, "failed", t0.AddMilliseconds(1500).ToOffset(TimeSpan.FromHours(3)), 11, 0),
        };

        var w = TraceReader.Read(_dir.File("jobs.csv", JobHistoryCsv.Header + "\n" + string.Join("\n", rows) + "\n"));

        Assert.Equal(TraceFormat.JobHistory, w.Format);
        Assert.Equal([TimeSpan.Zero, TimeSpan.FromMilliseconds(1500)], w.Requests.Select(r => r.Arrival));
        Assert.Equal(["ad-8", null], w.Requests.Select(r => r.AdapterId));
        Assert.Equal([8, null], w.Requests.Select(r => r.Rank));
        Assert.Contains("2025-06-01T12:00:00.123456Z", rows[0]);
    }

    [Fact]
    public void The_summary_has_counts_rates_length_percentiles_and_the_rank_histogram()
    {
        var requests = Enumerable.Range(0, 101).Select(i => new WorkloadRequest(TimeSpan.FromSeconds(i * 0.5), i + 1, 2 * (i + 1),
            i % 10 == 0 ? null : i % 2 == 0 ? "a-rank-8" : i % 3 == 0 ? "b-rank-8" : "c-rank-64", i % 10 == 0 ? null : i % 2 == 0 || i % 3 == 0 ? 8 : 64));

        var s = WorkloadSummary.Of(new Workload("w", requests));

        Assert.Equal(101, s.Requests);
        Assert.Equal(50, s.DurationSeconds);
        Assert.Equal(2, s.RatePerSecond);
        Assert.Equal(0, s.InterArrivalCv!.Value, precision: 9);
        Assert.Equal(new LengthStats(51, 51, 100, 101), s.Input);
        Assert.Equal(new LengthStats(102, 102, 200, 202), s.Output);
        Assert.Equal(3, s.Adapters);
        Assert.Equal([8, 64, null], s.Ranks.Select(r => r.Rank));
        Assert.Equal([2, 1, 0], s.Ranks.Select(r => r.Adapters));
        Assert.Equal(101, s.Ranks.Sum(r => r.Requests));
        Assert.Equal(11, s.Ranks.Single(r => r.Rank is null).Requests);
        Assert.Equal("generated", s.Format);
    }
}
