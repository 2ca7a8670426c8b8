using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace LoRAQueue.Core.Costs;

/// <summary>A profile that cannot be used; <see cref="Field"/> is the JSON path of the culprit ("coefficients.kv_us_per_token").</summary>
public sealed class ProfileValidationException(string field, string message)
    : Exception($"{field}: {message}")
{
    public string Field { get; } = field;
}

/// <summary>Reads, validates and writes <see cref="AcceleratorProfile"/> JSON files; the built-in profiles.</summary>
public static partial class AcceleratorProfiles
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        // Profiles are files people read: keep µ, ², ÷, quotes and backticks in the sources as they are.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
    };

    /// <summary>Names of the profiles shipped inside this assembly.</summary>
    public static IReadOnlyList<string> BuiltinNames { get; } = ["a100", "a100-40gb"];

    /// <summary>A shipped profile by name (case-insensitive).</summary>
    public static AcceleratorProfile Builtin(string name)
    {
        string? match = BuiltinNames.FirstOrDefault(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase));
        if (match is null)
            throw new ArgumentException($"no built-in profile '{name}' (built in: {string.Join(", ", BuiltinNames)})", nameof(name));
        string resource = $"LoRAQueue.Core.Costs.Profiles.{match}.json";
        using var stream = typeof(AcceleratorProfiles).Assembly.GetManifestResourceStream(resource)
                           ?? throw new InvalidOperationException($"resource {resource} is missing from {typeof(AcceleratorProfiles).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }

    /// <summary>A built-in name, else a file path.</summary>
    public static AcceleratorProfile Resolve(string nameOrFile) =>
        BuiltinNames.Contains(nameOrFile, StringComparer.OrdinalIgnoreCase) && !File.Exists(nameOrFile) ? Builtin(nameOrFile) : Load(nameOrFile);

    public static AcceleratorProfile Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"no profile file '{path}' (built in: {string.Join(", ", BuiltinNames)})", path);
        }
        return Parse(text);
    }

    /// <summary>Parses and validates; any problem is a <see cref="ProfileValidationException"/> naming the field.</summary>
    public static AcceleratorProfile Parse(string json)
    {
        AcceleratorProfile? profile;
        try
        {
            profile = JsonSerializer.Deserialize<AcceleratorProfile>(json, Json);
        }
        catch (JsonException e)
        {
            string path = e.Path is { Length: > 0 } p ? p.TrimStart('$').TrimStart('.') : "";
            string reason = e.Message.Split(" Path:")[0];
            throw new ProfileValidationException(path.Length > 0 ? path : "(document)", reason);
        }
        if (profile is null) throw new ProfileValidationException("(document)", "the profile is JSON null");
        Validate(profile);
        return profile;
    }

    public static string ToJson(AcceleratorProfile profile)
    {
        Validate(profile);
        return JsonSerializer.Serialize(profile, Json);
    }

    public static void Save(AcceleratorProfile profile, string path)
    {
        string json = ToJson(profile);
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
        File.WriteAllText(path, json + Environment.NewLine);
    }

    /// <summary>Every figure a profile must name a source for (a section name covers its fields).</summary>
    public static IReadOnlyList<string> RequiredFigures(AcceleratorProfile profile)
    {
        var figures = new List<string>
        {
            "model",
            "coefficients.overhead_ms", "coefficients.weight_read_ms", "coefficients.prefill_us_per_token",
            "coefficients.decode_us_per_token", "coefficients.kv_us_per_token", "coefficients.lora_us_per_token_rank",
            "capacity.kv_tokens", "capacity.max_batch",
            "adapter_load.constant_ms", "adapter_load.bandwidth_gbs",
        };
        if (profile.Hardware is not null) figures.Add("hardware");
        if (profile.OperatingPoints is not null) figures.Add("operating_points");
        if (profile.Fit is not null) figures.Add("fit");
        return figures;
    }

    static readonly string[] s_sections = ["model", "hardware", "coefficients", "capacity", "adapter_load", "operating_points", "fit"];

    public static void Validate(AcceleratorProfile p)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (string.IsNullOrWhiteSpace(p.Name)) Fail("name", "missing: a profile needs a name");
        if (!NamePattern().IsMatch(p.Name)) Fail("name", $"'{p.Name}' must be lower-case letters, digits, '.', '_' or '-' (it names files and reports)");
        if (!Enum.IsDefined(p.Form)) Fail("form", $"must be 'linear' or 'roofline' (got {p.Form})");

        var m = p.Model ?? Missing<ProfileModelShape>("model");
        Positive("model.hidden_size", m.HiddenSize);
        Positive("model.layers", m.Layers);
        Positive("model.parameters", m.Parameters);
        Positive("model.weight_bytes", m.WeightBytes);
        Positive("model.kv_bytes_per_token", m.KvBytesPerToken);
        Positive("model.lora_bytes_per_rank", m.LoraBytesPerRank);

        if (p.Hardware is { } h)
        {
            Positive("hardware.memory_bandwidth_gbs", h.MemoryBandwidthGbs);
            Positive("hardware.peak_gflops", h.PeakGflops);
        }

        var c = p.Coefficients ?? Missing<StepCoefficients>("coefficients");
        NonNegative("coefficients.overhead_ms", c.OverheadMs);
        NonNegative("coefficients.weight_read_ms", c.WeightReadMs);
        NonNegative("coefficients.prefill_us_per_token", c.PrefillUsPerToken);
        NonNegative("coefficients.decode_us_per_token", c.DecodeUsPerToken);
        NonNegative("coefficients.kv_us_per_token", c.KvUsPerToken);
        NonNegative("coefficients.lora_us_per_token_rank", c.LoraUsPerTokenRank);
        if (p.Form == StepCostForm.Roofline && !(c.WeightReadMs > 0))
            Fail("coefficients.weight_read_ms", "must be positive in the roofline form (it is the memory floor of every step)");
        if (!(c.OverheadMs + c.WeightReadMs + c.DecodeUsPerToken > 0))
            Fail("coefficients", "a one-token decode step would cost nothing: overhead_ms, weight_read_ms and decode_us_per_token are all 0");

        var cap = p.Capacity ?? Missing<ProfileCapacity>("capacity");
        Positive("capacity.kv_tokens", cap.KvTokens);
        Positive("capacity.max_batch", cap.MaxBatch);

        var load = p.AdapterLoad ?? Missing<AdapterLoadCost>("adapter_load");
        NonNegative("adapter_load.constant_ms", load.ConstantMs);
        Positive("adapter_load.bandwidth_gbs", load.BandwidthGbs);

        if (p.OperatingPoints is { } op)
        {
            Positive("operating_points.prompt_tokens", op.PromptTokens);
            Positive("operating_points.output_tokens", op.OutputTokens);
            Positive("operating_points.batch", op.Batch);
            if (op.TokensPerS is null || op.TokensPerS.Count == 0) Fail("operating_points.tokens_per_s", "must hold at least one rank");
            foreach (var (rank, tps) in op.TokensPerS!)
            {
                if (rank <= 0) Fail($"operating_points.tokens_per_s.{rank}", "ranks must be positive");
                Positive($"operating_points.tokens_per_s.{rank}", tps);
            }
        }

        if (p.Fit is { } fit)
        {
            Positive("fit.points", fit.Points);
            if (!double.IsFinite(fit.RSquared) || fit.RSquared > 1) Fail("fit.r_squared", $"must be a finite number ≤ 1 (got {Show(fit.RSquared)})");
            NonNegative("fit.max_relative_error", fit.MaxRelativeError);
            NonNegative("fit.mean_relative_error", fit.MeanRelativeError);
        }

        if (p.Sources is null || p.Sources.Count == 0) Fail("sources", "missing: every figure needs a source");
        for (int i = 0; i < p.Sources!.Count; i++)
        {
            var s = p.Sources[i] ?? throw new ProfileValidationException($"sources[{i}]", "is null");
            if (string.IsNullOrWhiteSpace(s.Figure)) Fail($"sources[{i}].figure", "missing");
            if (string.IsNullOrWhiteSpace(s.Source)) Fail($"sources[{i}].source", $"missing for '{s.Figure}'");
            string section = s.Figure.Split('.')[0];
            if (!s_sections.Contains(section))
                Fail($"sources[{i}].figure", $"'{s.Figure}' names no part of a profile (sections: {string.Join(", ", s_sections)})");
        }
        foreach (string figure in RequiredFigures(p))
        {
            bool Named(string f) => p.Sources.Any(s => Covers(s.Figure, f));
            // A section is covered by one source for it, or by sources for each of its fields.
            if (!Named(figure) && !(s_sections.Contains(figure) && FieldsOf(figure).All(Named)))
                Fail("sources", $"no source for '{figure}'");
        }
    }

    /// <summary>True when a source for <paramref name="source"/> covers <paramref name="figure"/>: the same path, or a section above it.</summary>
    public static bool Covers(string source, string figure) =>
        string.Equals(source, figure, StringComparison.Ordinal) || figure.StartsWith(source + ".", StringComparison.Ordinal);

    /// <summary>The fields of a section, for a section whose sources are given field by field.</summary>
    static IEnumerable<string> FieldsOf(string section) => section switch
    {
        "model" => ["model.hidden_size", "model.layers", "model.parameters", "model.weight_bytes", "model.kv_bytes_per_token", "model.lora_bytes_per_rank"],
        "hardware" => ["hardware.memory_bandwidth_gbs", "hardware.peak_gflops"],
        "operating_points" => ["operating_points.prompt_tokens", "operating_points.output_tokens", "operating_points.batch", "operating_points.tokens_per_s"],
        "fit" => ["fit.points"],
        _ => [section],
    };

    static T Missing<T>(string field) => throw new ProfileValidationException(field, "missing");

    static void Fail(string field, string message) => throw new ProfileValidationException(field, message);

    static void Positive(string field, double value)
    {
        if (!(value > 0) || !double.IsFinite(value)) Fail(field, $"must be a positive number (got {Show(value)}; 0 when missing)");
    }

    static void NonNegative(string field, double value)
    {
        if (!(value >= 0) || !double.IsFinite(value)) Fail(field, $"must be a finite number ≥ 0 (got {Show(value)})");
    }

    static string Show(double value) => value.ToString("G6", CultureInfo.InvariantCulture);

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]*$")]
    private static partial Regex NamePattern();
}
