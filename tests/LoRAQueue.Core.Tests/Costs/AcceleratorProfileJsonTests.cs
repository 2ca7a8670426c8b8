using System.Text.Json.Nodes;
using LoRAQueue.Core.Costs;

namespace LoRAQueue.Core.Tests.Costs;

public class AcceleratorProfileJsonTests
{
    static string A100Json => AcceleratorProfiles.ToJson(AcceleratorProfiles.Builtin("a100"));

    [Fact]
    public void A_profile_survives_a_round_trip_through_json_and_a_file()
    {
        var original = AcceleratorProfiles.Builtin("a100");
        string json = AcceleratorProfiles.ToJson(original);
        var parsed = AcceleratorProfiles.Parse(json);
        Assert.Equal(json, AcceleratorProfiles.ToJson(parsed));
        Assert.Equal(original.Coefficients, parsed.Coefficients);
        Assert.Equal(original.Model, parsed.Model);
        Assert.Equal(original.OperatingPoints!.TokensPerS.OrderBy(kv => kv.Key), parsed.OperatingPoints!.TokensPerS.OrderBy(kv => kv.Key));
        Assert.Equal(original.Sources, parsed.Sources);

        string dir = Directory.CreateTempSubdirectory("loraqueue-profile-").FullName;
        try
        {
            string path = Path.Combine(dir, "nested", "a100.json");
            AcceleratorProfiles.Save(parsed, path);
            Assert.Equal(json, AcceleratorProfiles.ToJson(AcceleratorProfiles.Load(path)));
            Assert.Equal(json, AcceleratorProfiles.ToJson(AcceleratorProfiles.Resolve(path)));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void The_form_is_written_as_a_word_and_the_fitted_linear_profile_round_trips_too()
    {
        Assert.Contains("\"form\": \"roofline\"", A100Json);
        var linear = LinearStepCostModelTests.Profile() with
        {
            Fit = new ProfileFitSummary { Method = "ols", Points = 10, RSquared = 0.99, MaxRelativeError = 0.1, MeanRelativeError = 0.05 },
            Sources = [.. LinearStepCostModelTests.Profile().Sources, new ProfileSource { Figure = "fit", Source = "this fit" }],
        };
        string json = AcceleratorProfiles.ToJson(linear);
        Assert.Contains("\"form\": \"linear\"", json);
        Assert.Equal(json, AcceleratorProfiles.ToJson(AcceleratorProfiles.Parse(json)));
    }

    /// <summary>One broken field each: the error names it.</summary>
    public static TheoryData<string, Action<JsonObject>> Breakages() => new()
    {
        { "name", j => j.Remove("name") },
        { "name", j => j["name"] = "A100 GPU" },
        { "form", j => j["form"] = "quadratic" },
        { "model", j => j.Remove("model") },
        { "model.hidden_size", j => j["model"]!["hidden_size"] = 0 },
        { "model.layers", j => ((JsonObject)j["model"]!).Remove("layers") },
        { "model.weight_bytes", j => j["model"]!["weight_bytes"] = -1 },
        { "model.kv_bytes_per_token", j => j["model"]!["kv_bytes_per_token"] = "big" },
        { "model.lora_bytes_per_rank", j => j["model"]!["lora_bytes_per_rank"] = 0 },
        { "hardware.memory_bandwidth_gbs", j => j["hardware"]!["memory_bandwidth_gbs"] = 0 },
        { "coefficients", j => j.Remove("coefficients") },
        { "coefficients.overhead_ms", j => j["coefficients"]!["overhead_ms"] = -1 },
        { "coefficients.kv_us_per_token", j => j["coefficients"]!["kv_us_per_token"] = -0.1 },
        { "coefficients.lora_us_per_token_rank", j => j["coefficients"]!["lora_us_per_token_rank"] = -2 },
        { "coefficients.weight_read_ms", j => j["coefficients"]!["weight_read_ms"] = 0 }, // roofline needs the floor
        { "coefficients.prefill_per_token", j => j["coefficients"]!["prefill_per_token"] = 1 }, // a typo is not silently ignored
        { "capacity", j => j.Remove("capacity") },
        { "capacity.kv_tokens", j => j["capacity"]!["kv_tokens"] = 0 },
        { "capacity.max_batch", j => ((JsonObject)j["capacity"]!).Remove("max_batch") },
        { "adapter_load", j => j.Remove("adapter_load") },
        { "adapter_load.bandwidth_gbs", j => j["adapter_load"]!["bandwidth_gbs"] = 0 },
        { "adapter_load.constant_ms", j => j["adapter_load"]!["constant_ms"] = -30 },
        { "operating_points.tokens_per_s", j => j["operating_points"]!["tokens_per_s"] = new JsonObject() },
        { "operating_points.tokens_per_s.16", j => j["operating_points"]!["tokens_per_s"]!["16"] = 0 },
        { "operating_points.batch", j => j["operating_points"]!["batch"] = 0 },
        { "fit.r_squared", j => j["fit"] = new JsonObject { ["points"] = 3, ["r_squared"] = 1.5 } },
        { "sources", j => j["sources"] = new JsonArray() },
        { "sources[2].source", j => j["sources"]![2]!["source"] = " " },
        { "sources[0].figure", j => j["sources"]![0]!["figure"] = "modle" },
        { "sources", j => RemoveSource(j, "coefficients.kv_us_per_token") },
        { "sources", j => RemoveSource(j, "operating_points.batch") },
    };

    static void RemoveSource(JsonObject j, string figure)
    {
        var sources = (JsonArray)j["sources"]!;
        sources.Remove(sources.Single(s => (string?)s!["figure"] == figure));
    }

    [Theory]
    [MemberData(nameof(Breakages))]
    public void Each_validation_error_names_its_field(string field, Action<JsonObject> breakIt)
    {
        var json = JsonNode.Parse(A100Json)!.AsObject();
        breakIt(json);
        var e = Assert.Throws<ProfileValidationException>(() => AcceleratorProfiles.Parse(json.ToJsonString()));
        Assert.Equal(field, e.Field);
        Assert.StartsWith(field + ": ", e.Message);
    }

    [Fact]
    public void A_missing_source_is_named_in_the_message()
    {
        var json = JsonNode.Parse(A100Json)!.AsObject();
        RemoveSource(json, "coefficients.kv_us_per_token");
        var e = Assert.Throws<ProfileValidationException>(() => AcceleratorProfiles.Parse(json.ToJsonString()));
        Assert.Contains("no source for 'coefficients.kv_us_per_token'", e.Message);
    }

    [Fact]
    public void A_section_is_covered_by_one_source_or_by_one_per_field()
    {
        var p = LinearStepCostModelTests.Profile(); // sources given per section
        AcceleratorProfiles.Validate(p);
        var perField = p with
        {
            Sources = [.. p.Sources.Where(s => s.Figure != "model"),
                       .. new[] { "hidden_size", "layers", "parameters", "weight_bytes", "kv_bytes_per_token", "lora_bytes_per_rank" }
                           .Select(f => new ProfileSource { Figure = "model." + f, Source = "test" })],
        };
        AcceleratorProfiles.Validate(perField);
        var missingOne = perField with { Sources = [.. perField.Sources.Where(s => s.Figure != "model.layers")] };
        Assert.Equal("sources", Assert.Throws<ProfileValidationException>(() => AcceleratorProfiles.Validate(missingOne)).Field);
    }

    [Fact]
    public void Malformed_json_and_missing_files_are_clear()
    {
        Assert.Equal("(document)", Assert.Throws<ProfileValidationException>(() => AcceleratorProfiles.Parse("null")).Field);
        Assert.Throws<ProfileValidationException>(() => AcceleratorProfiles.Parse("{\"name\": "));
        var missing = Assert.Throws<FileNotFoundException>(() => AcceleratorProfiles.Load("/nonexistent/profile.json"));
        Assert.Contains("a100", missing.Message);
        Assert.Throws<ArgumentException>(() => AcceleratorProfiles.Builtin("h100"));
    }
}
