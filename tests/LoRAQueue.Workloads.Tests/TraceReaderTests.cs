namespace LoRAQueue.Workloads.Tests;

/// <summary>Every trace format from a small fixture each test writes, the format recognised from the first line, and
/// the error a broken row gets (file and line named).</summary>
public sealed class TraceReaderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private const string AzureSample = """
        TIMESTAMP,ContextTokens,GeneratedTokens
        2023-11-16 18:15:46.6805900,374,44
        2023-11-16 18:15:50.9951690,396,109
        2023-11-16 18:15:51.2224670,879,55

        2023-11-16 18:15:51.3910170,91,16
        """;

    private const string MooncakeSample = """
        {"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0, 1, 2]}
        {"timestamp": 1500, "input_length": 7322, "output_length": 490, "hash_ids": [0, 14]}
        {"timestamp": 1200, "input_length": 12, "output_length": 3, "hash_ids": []}
        """;

    private const string LoRAServeSample = """
        req_id,model_dir,adapter_dir,prompt_len,output_len,req_time
        0,/models/llama-7b,/adapters/llama-7b-lora-rank-16-4,120,40,0.0
        1,/models/llama-7b,/adapters/llama-7b-lora-rank-8-0/,300,12,0.25
        2,/models/llama-7b,/adapters/llama-7b-lora-rank-16-4,7,9,0.125
        3,/models/llama-7b,adapters\llama-7b-lora-RANK-128-1,50,50,1.5
        """;

    private const string JobHistorySample = """
        job_id,tenant,adapter_id,rank_bucket,status,submitted_at,prompt_tokens,output_tokens
        0e7c8a36-3f1f-4a55-9d3a-1f6d0c2b9a01,acme,ad-32,32,completed,2025-06-01T12:00:02.500000Z,100,20
        7d1b2c44-9a0e-4c2b-8f55-2a7e5d3c1b02,acme,,,completed,2025-06-01T12:00:00.000000Z,5,6
        a3c9f1e2-5b7d-4e8a-9c0f-3b8d6e4f2c03,"globex, inc",ad-8,8,failed,2025-06-01T12:00:01.000000Z,7,0
        """;

    [Fact]
    public void Azure_csv_rows_become_requests_relative_to_the_first()
    {
        var w = TraceReader.Read(_dir.File("conv.csv", AzureSample));

        Assert.Equal(TraceFormat.Azure, w.Format);
        Assert.Equal([374, 396, 879, 91], w.Requests.Select(r => r.InputTokens));
        Assert.Equal([44, 109, 55, 16], w.Requests.Select(r => r.OutputTokens));
        Assert.Equal(TimeSpan.Zero, w.Requests[0].Arrival);
        Assert.Equal(TimeSpan.FromTicks(43_145_790), w.Requests[1].Arrival);
        Assert.Equal(TimeSpan.FromTicks(47_104_270), w.Requests[3].Arrival);
        Assert.All(w.Requests, r => Assert.Null(r.AdapterId));
        Assert.Empty(w.Adapters);
        Assert.Equal("trace conv.csv (Azure LLM inference CSV, 4 requests)", w.Description);
    }

    [Fact]
    public void Only_the_first_rows_are_read()
    {
        var path = _dir.File("conv.csv", AzureSample + "\nthis line is never read,,\n");

        var w = TraceReader.Read(path, maxRows: 2);

        Assert.Equal([374, 396], w.Requests.Select(r => r.InputTokens));
        Assert.Contains("first 2 requests", w.Description);
    }

    [Fact]
    public void Mooncake_json_lines_take_millisecond_timestamps_and_are_sorted_by_arrival()
    {
        var w = TraceReader.Read(_dir.File("mooncake.jsonl", MooncakeSample));

        Assert.Equal(TraceFormat.Mooncake, w.Format);
        Assert.Equal([0.0, 1.2, 1.5], w.Requests.Select(r => r.Arrival.TotalSeconds));
        Assert.Equal([6758, 12, 7322], w.Requests.Select(r => r.InputTokens));
        Assert.Equal([500, 3, 490], w.Requests.Select(r => r.OutputTokens));
    }

    [Fact]
    public void LoRAServe_rows_carry_the_adapter_and_the_rank_from_its_name()
    {
        var w = TraceReader.Read(_dir.File("slora.csv", LoRAServeSample));

        Assert.Equal(TraceFormat.LoRAServe, w.Format);
        Assert.Equal([0, 0.125, 0.25, 1.5], w.Requests.Select(r => r.Arrival.TotalSeconds));
        Assert.Equal([120, 7, 300, 50], w.Requests.Select(r => r.InputTokens));
        Assert.Equal([40, 9, 12, 50], w.Requests.Select(r => r.OutputTokens));
        Assert.Equal(["llama-7b-lora-rank-16-4", "llama-7b-lora-rank-16-4", "llama-7b-lora-rank-8-0", "llama-7b-lora-RANK-128-1"],
                     w.Requests.Select(r => r.AdapterId));
        Assert.Equal([16, 16, 8, 128], w.Requests.Select(r => r.Rank));
        Assert.Equal([new("llama-7b-lora-RANK-128-1", 128), new("llama-7b-lora-rank-16-4", 16), new WorkloadAdapter("llama-7b-lora-rank-8-0", 8)],
                     w.Adapters);
    }

    [Theory]
    [InlineData("llama-7b-lora-rank-16-4", 16)]
    [InlineData("/adapters/dummy-lora-13b-rank-64-0/", 64)]
    [InlineData(@"C:\adapters\x-rank-8", 8)]
    [InlineData("rank-32", 32)]
    [InlineData("lora-Rank-128-2", 128)]
    [InlineData("/adapters/rank-16/plain", null)] // only the last path segment counts
    [InlineData("lora-r16", null)]
    [InlineData("lora-rank-0", null)]
    [InlineData("lora-rank-", null)]
    public void The_rank_is_the_number_after_rank_in_the_last_path_segment(string adapterDir, int? rank) =>
        Assert.Equal(rank, TraceReader.RankFromAdapterName(adapterDir));

    [Fact]
    public void Job_history_exports_give_adapters_with_their_rank_bucket_and_base_model_rows_without()
    {
        var w = TraceReader.Read(_dir.File("jobs.csv", JobHistorySample));

        Assert.Equal(TraceFormat.JobHistory, w.Format);
        Assert.Equal([0, 1, 2.5], w.Requests.Select(r => r.Arrival.TotalSeconds));
        Assert.Equal([null, "ad-8", "ad-32"], w.Requests.Select(r => r.AdapterId));
        Assert.Equal([null, 8, 32], w.Requests.Select(r => r.Rank));
        Assert.Equal([5, 7, 100], w.Requests.Select(r => r.InputTokens));
        Assert.Equal([6, 0, 20], w.Requests.Select(r => r.OutputTokens));
    }

    [Fact]
    public void Job_history_columns_may_come_in_any_order_and_without_rank_bucket()
    {
        var w = TraceReader.Read(_dir.File("jobs.csv", """
            Output_Tokens,submitted_at,adapter_id,prompt_tokens
            3,2025-06-01T12:00:00+02:00,ad-a,10
            4,2025-06-01T10:00:00.25Z,,11
            """));

        Assert.Equal([0, 0.25], w.Requests.Select(r => r.Arrival.TotalSeconds));
        Assert.Equal(["ad-a", null], w.Requests.Select(r => r.AdapterId));
        Assert.All(w.Requests, r => Assert.Null(r.Rank));
        Assert.Equal([new WorkloadAdapter("ad-a", null)], w.Adapters);
    }

    [Fact]
    public void The_format_is_recognised_from_the_first_line_and_may_be_forced()
    {
        Assert.Equal(TraceFormat.Azure, TraceReader.Detect(_dir.File("a", AzureSample)));
        Assert.Equal(TraceFormat.Mooncake, TraceReader.Detect(_dir.File("b", "\n\n" + MooncakeSample)));
        Assert.Equal(TraceFormat.LoRAServe, TraceReader.Detect(_dir.File("c", LoRAServeSample)));
        Assert.Equal(TraceFormat.JobHistory, TraceReader.Detect(_dir.File("d", JobHistorySample)));

        // Forced: a file whose header names a format's columns reads as that format; one that lacks them is refused.
        var e = Assert.Throws<TraceFormatException>(() => TraceReader.Read(_dir.File("e.csv", AzureSample), format: TraceFormat.LoRAServe));
        Assert.Equal("e.csv:1: expected a header with req_id,model_dir,adapter_dir,prompt_len,output_len,req_time (LoRAServe); no column 'adapter_dir' in 'TIMESTAMP,ContextTokens,GeneratedTokens'", e.Message);
        var both = _dir.File("f.csv", "adapter_dir,req_time,TIMESTAMP,ContextTokens,GeneratedTokens,prompt_len,output_len\nx-rank-8,1,2,3,4,5,6\n");
        Assert.Equal(TraceFormat.LoRAServe, TraceReader.Read(both).Format);
        Assert.Equal(3, TraceReader.Read(both, format: TraceFormat.Azure).Requests[0].InputTokens);
    }

    [Theory]
    // Azure
    [InlineData("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\nyesterday,10,10\n", 3, "TIMESTAMP 'yesterday' is neither a date-time nor a number of seconds")]
    [InlineData("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n\n2023-11-16 18:15:47,12\n", 4, "expected 3 comma-separated fields, found 2")]
    [InlineData("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,-5,44\n", 2, "ContextTokens '-5' is not a whole number ≥ 0")]
    [InlineData("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,4.5\n", 2, "GeneratedTokens '4.5'")]
    [InlineData("time,input,output\n1,2,3\n", 1, "expected a header with TIMESTAMP,ContextTokens,GeneratedTokens (Azure LLM trace), req_id,model_dir")]
    [InlineData("TIMESTAMP,ContextTokens,GeneratedTokens\n", 1, "the trace holds no requests")]
    [InlineData("\n\n", 1, "the trace holds no requests")]
    // Mooncake
    [InlineData("{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": 10, \"input_length\": 5\n", 2, "not a JSON object")]
    [InlineData("{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": 10, \"output_length\": 1}\n", 2, "'input_length' must be a whole number ≥ 0")]
    [InlineData("{\"timestamp\": \"soon\", \"input_length\": 5, \"output_length\": 1}\n", 1, "'timestamp' must be a number ≥ 0")]
    [InlineData("{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n[1, 2]\n", 2, "not a JSON object")]
    // LoRAServe
    [InlineData("req_id,model_dir,adapter_dir,prompt_len,output_len,req_time\n0,m,adapters/a-rank-8,1,1,0\n1,m,adapters/plain-adapter,1,1,0.5\n", 3,
                "adapter_dir 'adapters/plain-adapter' names no rank: its last path segment needs 'rank-<r>'")]
    [InlineData("req_id,model_dir,adapter_dir,prompt_len,output_len,req_time\n0,m,,1,1,0\n", 2, "adapter_dir is empty")]
    [InlineData("req_id,model_dir,adapter_dir,prompt_len,output_len,req_time\n0,m,a-rank-8,1,1,soon\n", 2, "req_time 'soon' is not a number of seconds ≥ 0")]
    [InlineData("req_id,model_dir,adapter_dir,prompt_len,output_len,req_time\n0,m,a-rank-8,-1,1,0\n", 2, "prompt_len '-1' is not a whole number ≥ 0")]
    [InlineData("req_id,model_dir,adapter_dir,prompt_len,output_len,req_time\n0,m,a-rank-8,1,x,0\n", 2, "output_len 'x' is not a whole number ≥ 0")]
    [InlineData("req_id,model_dir,adapter_dir,prompt_len,output_len,req_time\n0,m,a-rank-8,1,1\n", 2, "expected 6 comma-separated fields, found 5")]
    [InlineData("req_id,model_dir,adapter_dir,prompt_len,output_len,req_time\n0,\"m,a-rank-8,1,1,0\n", 2, "a quoted field is not closed")]
    // Job history
    [InlineData("submitted_at,adapter_id,rank_bucket,prompt_tokens,output_tokens\nyesterday,ad,8,1,1\n", 2, "submitted_at 'yesterday' is not an ISO 8601 time")]
    [InlineData("submitted_at,adapter_id,rank_bucket,prompt_tokens,output_tokens\n2025-06-01T12:00:00Z,ad,,1,1\n", 2, "rank_bucket is empty for adapter 'ad'")]
    [InlineData("submitted_at,adapter_id,rank_bucket,prompt_tokens,output_tokens\n2025-06-01T12:00:00Z,ad,big,1,1\n", 2, "rank_bucket 'big' is not a whole number ≥ 1")]
    [InlineData("submitted_at,adapter_id,rank_bucket,prompt_tokens,output_tokens\n2025-06-01T12:00:00Z,,,,1\n", 2, "prompt_tokens is empty (a job without token counts")]
    [InlineData("submitted_at,adapter_id,rank_bucket,prompt_tokens,output_tokens\n2025-06-01T12:00:00Z,ad,8,1,1\n2025-06-01T12:00:01Z,ad,16,1,1\n", 3,
                "adapter 'ad' has rank 16 here but 8 on line 2")]
    public void A_malformed_row_is_reported_with_its_file_and_line(string contents, int line, string reason)
    {
        var path = _dir.File("broken.trace", contents);

        var e = Assert.Throws<TraceFormatException>(() => TraceReader.Read(path));

        Assert.Equal(line, e.Line);
        Assert.StartsWith($"broken.trace:{line}: ", e.Message);
        Assert.Contains(reason, e.Message);
        Assert.Equal(e.Message, $"broken.trace:{line}: {e.Reason}");
    }

    [Fact]
    public void A_missing_trace_file_is_named()
    {
        var e = Assert.Throws<FileNotFoundException>(() => TraceReader.Read(Path.Combine(_dir.Path, "nope.csv")));
        Assert.Contains("nope.csv", e.Message);
    }

    [SharedDataFact("azure2023_conv.csv", "azure2023_code.csv", "mooncake_fast25_conversation.jsonl")]
    public void The_real_traces_read_as_SOURCES_md_describes_them()
    {
        var conv = WorkloadSummary.Of(TraceReader.Read(SharedData.PathOf("azure2023_conv.csv")));
        var code = WorkloadSummary.Of(TraceReader.Read(SharedData.PathOf("azure2023_code.csv")));
        var mooncake = WorkloadSummary.Of(TraceReader.Read(SharedData.PathOf("mooncake_fast25_conversation.jsonl")));

        Assert.Equal(19_366, conv.Requests);
        Assert.InRange(conv.Input.Mean, 1150, 1160);
        Assert.InRange(conv.Output.Mean, 209, 213);
        Assert.InRange(conv.InterArrivalCv!.Value, 1.0, 1.2);
        Assert.Equal(8_819, code.Requests);
        Assert.InRange(code.InterArrivalCv!.Value, 12, 14);
        Assert.Equal(12_031, mooncake.Requests);
        Assert.InRange(mooncake.Input.Mean, 11_500, 12_500);
    }
}
