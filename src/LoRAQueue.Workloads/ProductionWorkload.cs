using System.Globalization;

namespace LoRAQueue.Workloads;

/// <summary>A production-like workload from the ServeGen client data in <see cref="DataDirectory"/> (never copied into the repository).</summary>
public sealed record ProductionWorkloadOptions
{
    /// <summary>The folder holding <see cref="ProductionWorkload.RatesFile"/> and <see cref="ProductionWorkload.LengthsFile"/>.</summary>
    public required string DataDirectory { get; init; }
    /// <summary>The ServeGen model whose clients become adapters (m-large, m-mid, m-small, deepseek-r1, mm-image).</summary>
    public string Model { get; init; } = "m-large";
    /// <summary>Where in the data's timeline the workload starts (the data's windows start at 0 s).</summary>
    public TimeSpan Start { get; init; } = TimeSpan.Zero;
    public required TimeSpan Duration { get; init; }
    /// <summary>The mean total rate wanted, requests per second; null = the data's own rates.</summary>
    public double? Rate { get; init; }
    /// <summary>How many clients (≈ adapters): those with the most requests in the span.</summary>
    public int Adapters { get; init; } = 100;
    public RankMix Ranks { get; init; } = RankMix.Default;
    /// <summary>Lengths from elsewhere (a trace's, <see cref="LengthModel.Empirical"/>); null = each client's from the lengths file.</summary>
    public LengthModel? Lengths { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>Window CVs above this are clamped (the data has CVs up to ~1000, a few requests in one burst).</summary>
    public double MaxCv { get; init; } = 10;
}

/// <summary>
/// A workload shaped like production traffic, from the ServeGen per-client data (SOURCES.md in the data folder):
/// <list type="bullet">
/// <item>Each client of the chosen model is one adapter; the <see cref="ProductionWorkloadOptions.Adapters"/> clients with
/// the most requests in the span are kept, so popularity and its drift are the data's own.</item>
/// <item>Arrivals: per client and 600 s window, Gamma gaps at the window's rate (scaled so the whole averages
/// <see cref="ProductionWorkloadOptions.Rate"/>) with the window's CV (clamped to [0.1, MaxCv]); the first arrival of a
/// window a uniform fraction of a gap in.</item>
/// <item>Lengths: log-normal through the client's p50 and p90 in the 6 h window the request falls in (its nearest window
/// otherwise; the model's median client where the lengths file lacks the client), clamped to [1, p99]; or from
/// <see cref="ProductionWorkloadOptions.Lengths"/>.</item>
/// <item>Ranks: the rank mix over the clients in a seeded random order; adapters are named
/// <c>client-&lt;id&gt;-rank-&lt;r&gt;</c>.</item>
/// </list>
/// Draws: arrivals Random(seed), lengths Random(seed + 1), ranks Random(seed + 2).
/// </summary>
public static class ProductionWorkload
{
    public const string RatesFile = "servegen_client_rates.csv";
    public const string LengthsFile = "servegen_client_lengths.csv";
    public const double RateWindowSeconds = 600;
    public const double MinCv = 0.1;
    private const double Z90 = 1.2815515655446004;

    public static Workload Generate(ProductionWorkloadOptions o)
    {
        if (o.Duration <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(o), o.Duration, "the duration must be positive");
        if (o.Start < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(o), o.Start, "the start must be ≥ 0");
        if (o.Rate is { } wanted && !(wanted > 0 && double.IsFinite(wanted))) throw new ArgumentOutOfRangeException(nameof(o), wanted, "the rate must be a positive number");
        ArgumentOutOfRangeException.ThrowIfLessThan(o.Adapters, 1);
        double start = o.Start.TotalSeconds, end = start + o.Duration.TotalSeconds;

        var windows = ReadRates(Path.Combine(o.DataDirectory, RatesFile), o.Model, start, end, out int activeClients);
        // Requests each client would send in the span at the data's rates.
        var expected = windows.GroupBy(w => w.Client)
            .Select(g => (Client: g.Key, Requests: g.Sum(w => w.Rate * Overlap(w.Start, start, end))))
            .Where(c => c.Requests > 0)
            .OrderByDescending(c => c.Requests).ThenBy(c => c.Client, StringComparer.Ordinal)
            .Take(o.Adapters).ToList();
        if (expected.Count == 0)
            throw new ArgumentException($"no client of {o.Model} sends requests between {start:G6} s and {end:G6} s in {RatesFile}");
        double raw = expected.Sum(c => c.Requests);
        double scale = o.Rate is { } rate ? rate * o.Duration.TotalSeconds / raw : 1;

        var rankRng = new Random(o.Seed + 2);
        var ranks = o.Ranks.Assign(expected.Count, rankRng);
        var adapterOf = expected.Select((c, i) => (c.Client, Adapter: new WorkloadAdapter(
            string.Create(CultureInfo.InvariantCulture, $"client-{c.Client}-rank-{ranks[i]}"), ranks[i]))).ToDictionary(x => x.Client, x => x.Adapter, StringComparer.Ordinal);

        var arrivals = new Random(o.Seed);
        var windowsOf = windows.GroupBy(w => w.Client, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.OrderBy(w => w.Start).ToList(), StringComparer.Ordinal);
        var requests = new List<(double At, string Client)>();
        foreach (var (client, _) in expected)
            foreach (var w in windowsOf[client])
            {
                double r = w.Rate * scale;
                if (!(r > 0)) continue;
                double cv = Math.Clamp(w.Cv, MinCv, o.MaxCv), windowEnd = w.Start + RateWindowSeconds;
                double t = w.Start + arrivals.NextDouble() * Distributions.InterArrival(arrivals, 1 / r, cv);
                for (; t < windowEnd; t += Distributions.InterArrival(arrivals, 1 / r, cv))
                    if (t >= start && t < end) requests.Add((t, client));
            }
        requests.Sort((a, b) => a.At != b.At ? a.At.CompareTo(b.At) : string.CompareOrdinal(a.Client, b.Client));

        var lengthRng = new Random(o.Seed + 1);
        ClientLengths? lengths = o.Lengths is null ? ClientLengths.Read(Path.Combine(o.DataDirectory, LengthsFile), o.Model) : null;
        var result = requests.Select(q =>
        {
            var (input, output) = o.Lengths?.Draw(lengthRng) ?? lengths!.Draw(q.Client, q.At, lengthRng);
            var adapter = adapterOf[q.Client];
            return new WorkloadRequest(TimeSpan.FromTicks((long)Math.Round((q.At - start) * TimeSpan.TicksPerSecond)), input, output, adapter.Id, adapter.Rank);
        }).ToList();

        var lengthText = o.Lengths?.Description
            ?? $"lengths log-normal through each client's p50/p90 (clamped to p99){(lengths!.Fallbacks(expected.Select(c => c.Client)) is > 0 and var f ? $", {f} clients without length data drawn like the model's median client" : "")}";
        var description = string.Create(CultureInfo.InvariantCulture,
            $"production-like: ServeGen {o.Model}, the {expected.Count} busiest of {activeClients} active clients as adapters, {start:G6}–{end:G6} s of the data, " +
            $"{(o.Rate is { } wantedRate ? $"rates scaled ×{scale:G3} to {wantedRate:G4} req/s" : "the data's own rates")}, per-client Gamma arrivals with each 600 s window's CV (≤ {o.MaxCv:G3}), " +
            $"{lengthText}, ranks {o.Ranks}, seed {o.Seed}");
        return new Workload(description, result);
    }

    private static double Overlap(double windowStart, double start, double end) =>
        Math.Max(0, Math.Min(windowStart + RateWindowSeconds, end) - Math.Max(windowStart, start));

    private sealed record RateWindow(string Client, double Start, double Rate, double Cv);

    /// <summary>The windows of <paramref name="model"/>'s clients that overlap [start, end).</summary>
    private static List<RateWindow> ReadRates(string path, string model, double start, double end, out int activeClients)
    {
        var file = new DataFile(path, ["model", "client_id", "window_start_s", "rate", "cv"]);
        var windows = new List<RateWindow>();
        var models = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var row in file.Rows())
        {
            var m = row.Text("model");
            models.Add(m);
            if (m != model) continue;
            double ws = row.Number("window_start_s");
            if (ws + RateWindowSeconds <= start || ws >= end) continue;
            windows.Add(new RateWindow(row.Text("client_id"), ws, row.Number("rate"), row.Number("cv")));
        }
        if (!models.Contains(model))
            throw new ArgumentException($"{Path.GetFileName(path)} has no model '{model}' (it has {string.Join(", ", models)})");
        activeClients = windows.Where(w => w.Rate > 0).Select(w => w.Client).Distinct().Count();
        return windows;
    }

    /// <summary>Per client, its 6 h length windows; the model's median client for clients without any.</summary>
    private sealed class ClientLengths
    {
        private readonly Dictionary<string, List<LengthWindow>> _byClient;
        private readonly LengthWindow _median;

        private ClientLengths(Dictionary<string, List<LengthWindow>> byClient, LengthWindow median) => (_byClient, _median) = (byClient, median);

        public static ClientLengths Read(string path, string model)
        {
            var file = new DataFile(path, ["model", "client_id", "window_start_s", "input_p50", "input_p90", "input_p99", "output_p50", "output_p90", "output_p99"]);
            var byClient = new Dictionary<string, List<LengthWindow>>(StringComparer.Ordinal);
            foreach (var row in file.Rows())
            {
                if (row.Text("model") != model) continue;
                var w = new LengthWindow(row.Number("window_start_s"),
                    new Quantiles(row.Number("input_p50"), row.Number("input_p90"), row.Number("input_p99")),
                    new Quantiles(row.Number("output_p50"), row.Number("output_p90"), row.Number("output_p99")));
                if (!byClient.TryGetValue(row.Text("client_id"), out var list)) byClient[row.Text("client_id")] = list = [];
                list.Add(w);
            }
            if (byClient.Count == 0) throw new ArgumentException($"{Path.GetFileName(path)} has no lengths for model '{model}'");
            foreach (var list in byClient.Values) list.Sort((a, b) => a.Start.CompareTo(b.Start));
            var all = byClient.Values.SelectMany(l => l).ToList();
            double Median(Func<LengthWindow, double> f) => all.Select(f).Order().ElementAt(all.Count / 2);
            var median = new LengthWindow(0, new Quantiles(Median(w => w.Input.P50), Median(w => w.Input.P90), Median(w => w.Input.P99)),
                                          new Quantiles(Median(w => w.Output.P50), Median(w => w.Output.P90), Median(w => w.Output.P99)));
            return new ClientLengths(byClient, median);
        }

        public int Fallbacks(IEnumerable<string> clients) => clients.Count(c => !_byClient.ContainsKey(c));

        public (int, int) Draw(string client, double at, Random rng)
        {
            var w = _median;
            if (_byClient.TryGetValue(client, out var list))
            {
                w = list[0];
                foreach (var candidate in list)
                    if (candidate.Start <= at) w = candidate;
            }
            return (w.Input.Draw(rng), w.Output.Draw(rng));
        }
    }

    private sealed record LengthWindow(double Start, Quantiles Input, Quantiles Output);

    private sealed record Quantiles(double P50, double P90, double P99)
    {
        public int Draw(Random rng)
        {
            double median = Math.Max(P50, 1);
            double sigma = P90 > median ? Math.Min(Math.Log(P90 / median) / Z90, 3) : 0.05;
            double value = median * Math.Exp(sigma * Distributions.Normal(rng));
            return (int)Math.Clamp(Math.Round(value), 1, Math.Max(1, Math.Max(P99, median)));
        }
    }

    /// <summary>A data CSV read by column name; a row that cannot be read is a <see cref="TraceFormatException"/>.</summary>
    private sealed class DataFile(string path, IReadOnlyList<string> required)
    {
        public IEnumerable<Row> Rows()
        {
            if (!File.Exists(path))
                throw new FileNotFoundException($"'{path}' does not exist (the ServeGen data: see SOURCES.md in the data folder)", path);
            using var reader = new StreamReader(path);
            var header = reader.ReadLine() is { } h ? Csv.Split(h) : null;
            if (header is null) throw new TraceFormatException(path, 1, "the file is empty");
            var index = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < header.Length; i++) index.TryAdd(header[i], i);
            foreach (var name in required)
                if (!index.ContainsKey(name)) throw new TraceFormatException(path, 1, $"expected a column '{name}' in '{string.Join(",", header)}'");
            int n = 1;
            string? line;
            while ((line = reader.ReadLine()) is not null)
            {
                n++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                var fields = Csv.Split(line);
                if (fields is null || fields.Length != header.Length)
                    throw new TraceFormatException(path, n, $"expected {header.Length} comma-separated fields, found {fields?.Length.ToString(CultureInfo.InvariantCulture) ?? "an unclosed quote"}");
                yield return new Row(path, n, index, fields);
            }
        }
    }

    private readonly record struct Row(string Path, int Line, Dictionary<string, int> Index, string[] Fields)
    {
        public string Text(string column) => Fields[Index[column]];

        public double Number(string column) =>
            double.TryParse(Fields[Index[column]], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= 0 && double.IsFinite(v)
                ? v
                : throw new TraceFormatException(Path, Line, $"{column} '{Fields[Index[column]]}' is not a number ≥ 0");
    }
}
