using System.Globalization;

namespace LoRAQueue.Core.Costs;

/// <summary>A measured step for a fit: its shape, the kernel that ran it, and its time.</summary>
public sealed record StepObservation(string Label, StepShape Shape, LoraKernelKind Kernel, double Seconds);

/// <summary>One input point against the fitted model.</summary>
public sealed record PointResidual(string Label, double Measured, double Predicted)
{
    /// <summary>(predicted − measured) ÷ measured.</summary>
    public double RelativeError => (Predicted - Measured) / Measured;
}

/// <summary>
/// The step model fitted to measured steps, in <see cref="Form"/>. <see cref="Unidentified"/>: coefficients no input
/// point varies (held at 0); <see cref="Clamped"/>: coefficients the least-squares optimum would make negative (held at 0
/// by the non-negative fit: a negative price per token is noise, not a property of the machine).
/// <see cref="MemoryBound"/>: in the roofline form, the points whose token work stays under the weight stream.
/// </summary>
public sealed record StepFit(
    StepCostForm Form,
    StepCoefficients Coefficients,
    IReadOnlyList<PointResidual> Points,
    double RSquared,
    double MaxRelativeError,
    double MeanRelativeError,
    IReadOnlyList<string> Unidentified,
    IReadOnlyList<string> Clamped,
    bool RelativeWeights)
{
    public IReadOnlyList<string> MemoryBound { get; init; } = [];

    /// <summary>True when the roofline's weight stream was fitted (grid search) rather than given.</summary>
    public bool WeightReadFitted { get; init; }

    /// <summary>The minimised objective: Σ (residual ÷ measured)² with relative weights, else Σ residual² (s²).</summary>
    public double Objective => RelativeWeights
        ? Points.Sum(p => p.RelativeError * p.RelativeError)
        : Points.Sum(p => (p.Predicted - p.Measured) * (p.Predicted - p.Measured));
}

/// <summary>The per-module LoRA line fitted to `bench kernels` cases: ms = fixed + per_token_rank × token-rank, both
/// kernels' points together (segmented at Σ tokens·rank, padded at tokens × max rank).</summary>
public sealed record KernelFit(
    double FixedMs,
    double MsPerTokenRank,
    int Hidden,
    IReadOnlyList<PointResidual> Points,
    double RSquared,
    double MaxRelativeError,
    /// <summary>Mean over cases of (padded ms ÷ padded token-rank) ÷ (segmented ms ÷ token-rank): 1 when both kernels
    /// pay the same per token-rank, the assumption of <see cref="LinearStepCostModel"/>.</summary>
    double PaddedPricePerSegmentedPrice)
{
    /// <summary>The line's price scaled to a whole model: its LoRA FLOPs per token-rank over the module's 2·(in+out) = 4·hidden.</summary>
    public double ImpliedUsPerTokenRank(long modelLoraFlopsPerTokenRank) => MsPerTokenRank * 1e3 * modelLoraFlopsPerTokenRank / (4.0 * Hidden);
}

/// <summary>What <see cref="ProfileFit.Fit"/> needs besides the reports.</summary>
public sealed record ProfileFitOptions
{
    public string Name { get; init; } = "cpu";
    public string? Description { get; init; }
    public string? Accelerator { get; init; }
    /// <summary>Weighted least squares with weights 1/measured² (minimises relative error) instead of plain OLS.</summary>
    public bool RelativeWeights { get; init; }
    /// <summary>The form to fit; null: both, and the roofline is kept when its objective is smaller by more than 0.1 %.</summary>
    public StepCostForm? Form { get; init; }
    /// <summary>Fit each step's fastest timed step (step_ms_min) instead of its median (step_ms): on a shared machine other
    /// processes only ever add time.</summary>
    public bool UseMinimum { get; init; }
    public required long KvTokens { get; init; }
    public required string KvTokensSource { get; init; }
    public required int MaxBatch { get; init; }
    public required string MaxBatchSource { get; init; }
    /// <summary>Used when no transfer report is given.</summary>
    public double AdapterLoadConstantMs { get; init; } = 30;
    public double? AdapterLoadBandwidthGbs { get; init; }
    public string? AdapterLoadSource { get; init; }
    /// <summary>Which transfer report transport to fit ("tcp am", "shm get", …).</summary>
    public string TransferTransport { get; init; } = "tcp am";
    /// <summary>File names and command lines quoted in the sources.</summary>
    public string EngineSource { get; init; } = "engine report";
    public string? KernelsSource { get; init; }
    public string? TransferSource { get; init; }
}

public sealed record ProfileFitResult(AcceleratorProfile Profile, StepFit Steps, KernelFit? Kernels, IReadOnlyList<string> Notes);

/// <summary>
/// Fits <see cref="LinearStepCostModel"/> (linear or roofline form) to this machine's benchmarks: the engine bench's measured step
/// shapes give overhead, prefill, decode, KV and LoRA coefficients by non-negative least squares; the kernels bench
/// gives the per-module LoRA line (a cross-check of the engine's LoRA price, its fallback when the engine report has no
/// LoRA steps, and the padded/segmented price ratio); the transfer bench, when given, the adapter load line.
/// </summary>
public static class ProfileFit
{
    static readonly string[] s_columns = ["overhead", "prefill", "decode", "kv", "lora"];

    public static IReadOnlyList<StepObservation> Observations(EngineReportInput engine, bool useMinimum = false) =>
        [.. (engine.Steps ?? []).Select(s => new StepObservation(s.Label, s.ToShape(), s.KernelKind,
            (useMinimum ? s.StepMsMin ?? throw new FormatException($"step '{s.Label}' has no step_ms_min: rerun `loraqueue bench engine --json`") : s.StepMs) * 1e-3))];

    /// <summary>Least squares of the linear form T = overhead + a·P + b·D + c·K + d·L over the points, every coefficient ≥ 0.</summary>
    public static StepFit FitSteps(IReadOnlyList<StepObservation> points, bool relativeWeights = false) =>
        FitSteps(points, relativeWeights, StepCostForm.Linear, 0);

    /// <summary>
    /// Least squares in either form, every coefficient ≥ 0. Linear: T = overhead + a·P + b·D + c·K + d·L.
    /// Roofline: T = overhead + max(W, a·P + b·D) + c·K + d·L with the weight stream W = <paramref name="weightReadSeconds"/>
    /// when given (weights ÷ bandwidth), else fitted by a grid search over (0, fastest step]: for each W a segmented regression, solved by alternating between assigning each point
    /// to its regime (memory-bound when a·P + b·D ≤ W) and the linear least squares that assignment makes, from the
    /// linear fit's coefficients, until the assignment repeats; the best objective seen is kept.
    /// </summary>
    public static StepFit FitSteps(IReadOnlyList<StepObservation> points, bool relativeWeights, StepCostForm form, double? weightReadSeconds)
    {
        if (form == StepCostForm.Roofline && weightReadSeconds is null)
        {
            // W is fitted too: every step costs at least overhead + W, so W ∈ (0, fastest step]. A coarse grid, then a
            // fine one around the best; the objective is piecewise smooth in W, so a grid is safer than a descent.
            ArgumentNullException.ThrowIfNull(points);
            if (points.Count < 2) throw new ArgumentException($"a fit needs at least 2 measured steps (got {points.Count})", nameof(points));
            double fastest = points.Min(p => p.Seconds);
            StepFit? best = null;
            double step = fastest / 40;
            foreach (double w in Enumerable.Range(1, 40).Select(k => k * step))
            {
                var candidate = FitSteps(points, relativeWeights, form, w);
                if (best is null || candidate.Objective < best.Objective) best = candidate;
            }
            double centre = best!.Coefficients.WeightReadMs * 1e-3;
            foreach (double w in Enumerable.Range(-20, 41).Select(k => centre + k * step / 20).Where(w => w > 0 && w <= fastest))
            {
                var candidate = FitSteps(points, relativeWeights, form, w);
                if (candidate.Objective < best.Objective) best = candidate;
            }
            return best with { WeightReadFitted = true };
        }
        return FitStepsAt(points, relativeWeights, form, weightReadSeconds ?? 0);
    }

    static StepFit FitStepsAt(IReadOnlyList<StepObservation> points, bool relativeWeights, StepCostForm form, double weightReadSeconds)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Count < 2) throw new ArgumentException($"a fit needs at least 2 measured steps (got {points.Count})", nameof(points));
        var y = points.Select(p => p.Seconds).ToArray();
        if (y.Any(v => !(v > 0) || !double.IsFinite(v))) throw new ArgumentException("every measured step time must be positive", nameof(points));
        var full = points.Select(p => new double[]
        {
            1, p.Shape.PrefillTokens, p.Shape.DecodeTokens, p.Shape.KvTokensRead, p.Shape.LoraTokenRank(p.Kernel),
        }).ToArray();
        var weights = relativeWeights ? y.Select(v => 1 / (v * v)).ToArray() : null;
        var unidentified = Enumerable.Range(0, s_columns.Length).Where(j => full.All(r => r[j] == 0)).Select(j => s_columns[j]).ToList();

        var linear = LeastSquares.Solve(full, y, weights, nonNegative: true);
        if (form == StepCostForm.Linear)
            return Result(form, linear.Coefficients, 0, new bool[points.Count]);
        if (!(weightReadSeconds > 0) || !double.IsFinite(weightReadSeconds))
            throw new ArgumentException("the roofline form needs the weight stream's time (weights ÷ bandwidth)", nameof(weightReadSeconds));

        var x = linear.Coefficients;
        var memoryBound = Assign(x);
        StepFit? best = null;
        var seen = new HashSet<string>();
        for (int iteration = 0; iteration < 100 && seen.Add(Key(memoryBound)); iteration++)
        {
            var rows = new double[points.Count][];
            var target = new double[points.Count];
            for (int i = 0; i < points.Count; i++)
            {
                rows[i] = (double[])full[i].Clone();
                target[i] = y[i];
                if (memoryBound[i])
                {
                    rows[i][1] = rows[i][2] = 0; // the token work hides under the weight stream
                    target[i] -= weightReadSeconds;
                }
            }
            if (target.Any(v => !double.IsFinite(v))) break;
            x = LeastSquares.Solve(rows, target, weights, nonNegative: true).Coefficients;
            var fit = Result(form, x, weightReadSeconds, memoryBound);
            if (best is null || fit.Objective < best.Objective) best = fit;
            memoryBound = Assign(x);
        }
        return best ?? Result(form, x, weightReadSeconds, memoryBound);

        bool[] Assign(IReadOnlyList<double> c) => [.. full.Select(r => c[1] * r[1] + c[2] * r[2] <= weightReadSeconds)];

        static string Key(bool[] flags) => new([.. flags.Select(f => f ? '1' : '0')]);

        StepFit Result(StepCostForm f, IReadOnlyList<double> c, double w, bool[] bound)
        {
            var predicted = full.Select(r =>
            {
                double tokens = c[1] * r[1] + c[2] * r[2];
                return c[0] + (f == StepCostForm.Roofline ? Math.Max(w, tokens) : tokens) + c[3] * r[3] + c[4] * r[4];
            }).ToArray();
            var residuals = points.Select((p, i) => new PointResidual(p.Label, y[i], predicted[i])).ToList();
            var clamped = Enumerable.Range(0, s_columns.Length).Where(j => c[j] == 0 && !unidentified.Contains(s_columns[j])).Select(j => s_columns[j]).ToList();
            return new StepFit(f, new StepCoefficients
            {
                OverheadMs = c[0] * 1e3,
                WeightReadMs = w * 1e3,
                PrefillUsPerToken = c[1] * 1e6,
                DecodeUsPerToken = c[2] * 1e6,
                KvUsPerToken = c[3] * 1e6,
                LoraUsPerTokenRank = c[4] * 1e6,
            }, residuals, LeastSquares.RSquared(y, predicted),
                residuals.Max(r => Math.Abs(r.RelativeError)), residuals.Average(r => Math.Abs(r.RelativeError)),
                unidentified, clamped, relativeWeights)
            {
                MemoryBound = f == StepCostForm.Roofline ? [.. points.Where((_, i) => bound[i]).Select(p => p.Label)] : [],
            };
        }
    }

    /// <summary>The per-module LoRA line over both kernels' points of every case (non-negative least squares).</summary>
    public static KernelFit FitKernels(KernelReportInput report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var cases = report.Cases ?? throw new ArgumentException("the kernels report has no cases", nameof(report));
        var labels = new List<string>();
        var rows = new List<double[]>();
        var y = new List<double>();
        foreach (var c in cases)
        {
            labels.Add($"{c.Name} segmented"); rows.Add([1, c.TokenRank]); y.Add(c.SegmentedMs);
            labels.Add($"{c.Name} padded"); rows.Add([1, c.PaddedTokenRank]); y.Add(c.PaddedMs);
        }
        var solution = LeastSquares.Solve([.. rows], [.. y], nonNegative: true);
        var residuals = labels.Select((l, i) => new PointResidual(l, y[i], solution.Predicted[i])).ToList();
        double ratio = cases.Average(c => c.PaddedMs / c.PaddedTokenRank / (c.SegmentedMs / c.TokenRank));
        return new KernelFit(solution.Coefficients[0], solution.Coefficients[1], report.Hidden, residuals, solution.RSquared,
            residuals.Max(r => Math.Abs(r.RelativeError)), ratio);
    }

    /// <summary>Adapter load line (ms = constant + bytes ÷ bandwidth) over one transport's cases of a transfer report.</summary>
    public static (double ConstantMs, double BandwidthGbs, double RSquared, int Points) FitTransfer(TransferReportInput report, string transport)
    {
        var cases = (report.Cases ?? []).Where(c => string.Equals(c.Transport, transport, StringComparison.OrdinalIgnoreCase)).ToList();
        if (cases.Count < 2)
            throw new FormatException($"transfer report: {cases.Count} case(s) of transport '{transport}' (known: {string.Join(", ", (report.Cases ?? []).Select(c => c.Transport).Distinct())}); a line needs 2 sizes");
        var solution = LeastSquares.Solve([.. cases.Select(c => new double[] { 1, c.SizeBytes })], [.. cases.Select(c => c.PullMs)], nonNegative: true);
        double msPerByte = solution.Coefficients[1];
        if (!(msPerByte > 0)) throw new FormatException($"transfer report: pull time of '{transport}' does not grow with size; no bandwidth to fit");
        return (solution.Coefficients[0], 1e-6 / msPerByte, solution.RSquared, cases.Count);
    }

    /// <summary>A linear-form profile of this machine from the bench reports.</summary>
    public static ProfileFitResult Fit(EngineReportInput engine, KernelReportInput? kernels, TransferReportInput? transfer, ProfileFitOptions options)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(options);
        var model = engine.Model ?? throw new FormatException("engine report: no 'model' section");
        var notes = new List<string>();
        var observations = Observations(engine, options.UseMinimum);
        double weightRead = engine.BandwidthGbs > 0 ? model.WeightBytes / (engine.BandwidthGbs * 1e9) : 0;
        StepFit steps;
        if (options.Form is { } form)
            steps = FitSteps(observations, options.RelativeWeights, form, form == StepCostForm.Roofline ? null : 0);
        else
        {
            var linear = FitSteps(observations, options.RelativeWeights, StepCostForm.Linear, 0);
            var roofline = FitSteps(observations, options.RelativeWeights, StepCostForm.Roofline, null);
            // The simpler linear form unless the roofline is better by more than 0.1 %.
            steps = roofline.Objective < linear.Objective * 0.999 ? roofline : linear;
            notes.Add($"form: {Name(steps.Form)} kept (smaller objective); linear R² {F(linear.RSquared, 4)}, max |relative error| {F(linear.MaxRelativeError * 100, 1)} %; " +
                      $"roofline (weight stream {F(roofline.Coefficients.WeightReadMs, 2)} ms) R² {F(roofline.RSquared, 4)}, max |relative error| {F(roofline.MaxRelativeError * 100, 1)} %");
        }
        var kernelFit = kernels is null ? null : FitKernels(kernels);
        string method = (options.RelativeWeights
            ? "weighted least squares (weights 1/measured², i.e. relative error), every coefficient ≥ 0"
            : "ordinary least squares, every coefficient ≥ 0") + $", {Name(steps.Form)} form" + (options.UseMinimum ? ", fastest timed step of each point" : ", median timed step of each point");
        string fitText = $"{method}, over the {steps.Points.Count} step points of {options.EngineSource} " +
                         $"(R² {F(steps.RSquared, 4)}, max |relative error| {F(steps.MaxRelativeError * 100, 1)} %)";

        var coefficients = steps.Coefficients;
        string loraSource = $"{fitText}: the LoRA token-rank column (segmented and padded steps at their own token-rank)";
        double? implied = kernelFit is not null && model.LoraFlopsPerTokenRank > 0 ? kernelFit.ImpliedUsPerTokenRank(model.LoraFlopsPerTokenRank) : null;
        if (steps.Unidentified.Contains("lora"))
        {
            if (implied is null)
                throw new FormatException("engine report has no LoRA steps and no kernels report (with the engine's lora_flops_per_token_rank) was given: nothing to price LoRA from");
            coefficients = coefficients with { LoraUsPerTokenRank = implied.Value };
            loraSource = $"{options.KernelsSource}: per-module line {F(kernelFit!.MsPerTokenRank * 1e6, 3)} ns per token-rank " +
                         $"for a {kernelFit.Hidden}×{kernelFit.Hidden} module, × the model's {model.LoraFlopsPerTokenRank} LoRA FLOPs per token-rank ÷ {4 * kernelFit.Hidden} (the engine report has no LoRA steps)";
            notes.Add("LoRA price from the kernels bench: the engine report has no LoRA steps");
        }
        else if (implied is not null)
        {
            loraSource += $"; cross-check: {options.KernelsSource} implies {F(implied.Value, 4)} µs per token-rank for this model";
            notes.Add($"LoRA price: engine steps {F(coefficients.LoraUsPerTokenRank, 4)} µs per token-rank; the kernels bench's per-module line implies {F(implied.Value, 4)}");
        }
        if (kernelFit is not null)
            notes.Add($"kernels bench: padded pays {F(kernelFit.PaddedPricePerSegmentedPrice, 2)}× segmented's price per token-rank (1 = the model's assumption); per-module line R² {F(kernelFit.RSquared, 4)}");
        foreach (var c in steps.Unidentified.Where(c => c != "lora")) notes.Add($"'{c}' is not identified by the steps (no point varies it): held at 0");
        foreach (var c in steps.Clamped) notes.Add($"'{c}' would be negative in the unconstrained fit: held at 0");

        var (loadConstant, loadBandwidth, loadSource) = AdapterLoad(transfer, options, engine);
        double weightReadMs = weightRead * 1e3;
        bool roof = steps.Form == StepCostForm.Roofline;
        var sources = new List<ProfileSource>
        {
            new() { Figure = "model", Source = $"{options.EngineSource}: its 'model' section (preset {engine.Preset ?? model.Name}; LoRA targets {string.Join(",", model.LoraTargets ?? [])}, F32 adapters)" },
            new() { Figure = "hardware.memory_bandwidth_gbs", Source = $"{options.EngineSource}: bandwidth_gbs (read probe, best of N before the decode runs)" },
            new() { Figure = "hardware.peak_gflops", Source = $"{options.EngineSource}: gemm_gflops (a prefill-shaped GEMM on the largest matrix, best of N): measured, not a datasheet peak" },
            new() { Figure = "coefficients.overhead_ms", Source = roof ? $"{fitText}: the intercept" : $"{fitText}: the intercept (it includes streaming the weights: linear form)" },
            new() { Figure = "coefficients.weight_read_ms", Source = roof
                ? $"{fitText}: the weight-stream floor, fitted by a grid search over (0, fastest step] (for reference, weights_bytes {model.WeightBytes} ÷ the report's bandwidth_gbs {F(engine.BandwidthGbs, 1)} GB/s = {F(weightReadMs, 2)} ms)"
                : $"0 in the linear form (the weight stream is inside overhead_ms); for reference, {model.WeightBytes} bytes ÷ {F(engine.BandwidthGbs, 1)} GB/s = {F(weightReadMs, 2)} ms" },
            new() { Figure = "coefficients.prefill_us_per_token", Source = $"{fitText}: the prefill-token column" },
            new() { Figure = "coefficients.decode_us_per_token", Source = $"{fitText}: the decode-token column" },
            new() { Figure = "coefficients.kv_us_per_token", Source = $"{fitText}: the KV-tokens-read column" },
            new() { Figure = "coefficients.lora_us_per_token_rank", Source = loraSource },
            new() { Figure = "capacity.kv_tokens", Source = options.KvTokensSource },
            new() { Figure = "capacity.max_batch", Source = options.MaxBatchSource },
            new() { Figure = "adapter_load", Source = loadSource },
            new() { Figure = "fit", Source = $"this fit: residuals of the model against each of the {steps.Points.Count} input points" },
        };
        var profile = new AcceleratorProfile
        {
            Name = options.Name,
            Description = options.Description ?? $"Fitted on this machine from `loraqueue bench engine` ({engine.Preset ?? model.Name}){(kernels is null ? "" : " and `bench kernels`")}: {Name(steps.Form)} form.",
            Form = steps.Form,
            Model = new ProfileModelShape
            {
                Name = engine.Preset ?? model.Name,
                HiddenSize = model.HiddenSize,
                Layers = model.Layers,
                Parameters = model.Parameters,
                WeightBytes = model.WeightBytes,
                KvBytesPerToken = model.KvBytesPerToken,
                LoraBytesPerRank = model.LoraBytesPerRank,
            },
            Hardware = engine.BandwidthGbs > 0 && engine.GemmGflops > 0
                ? new ProfileHardware { Accelerator = options.Accelerator ?? "cpu", MemoryBandwidthGbs = Round(engine.BandwidthGbs), PeakGflops = Round(engine.GemmGflops) }
                : null,
            Coefficients = new StepCoefficients
            {
                OverheadMs = Round(coefficients.OverheadMs),
                WeightReadMs = roof ? Round(coefficients.WeightReadMs) : 0,
                PrefillUsPerToken = Round(coefficients.PrefillUsPerToken),
                DecodeUsPerToken = Round(coefficients.DecodeUsPerToken),
                KvUsPerToken = Round(coefficients.KvUsPerToken),
                LoraUsPerTokenRank = Round(coefficients.LoraUsPerTokenRank),
            },
            Capacity = new ProfileCapacity { KvTokens = options.KvTokens, MaxBatch = options.MaxBatch },
            AdapterLoad = new AdapterLoadCost { ConstantMs = Round(loadConstant), BandwidthGbs = Round(loadBandwidth) },
            Fit = new ProfileFitSummary
            {
                Method = method,
                Points = steps.Points.Count,
                RSquared = Math.Round(steps.RSquared, 5),
                MaxRelativeError = Math.Round(steps.MaxRelativeError, 4),
                MeanRelativeError = Math.Round(steps.MeanRelativeError, 4),
            },
            // No hardware section without both measurements, and then no sources for it.
            Sources = [.. sources.Where(s => !s.Figure.StartsWith("hardware.", StringComparison.Ordinal) || engine.BandwidthGbs > 0 && engine.GemmGflops > 0)],
        };
        AcceleratorProfiles.Validate(profile);
        return new ProfileFitResult(profile, steps, kernelFit, notes);
    }

    static (double ConstantMs, double BandwidthGbs, string Source) AdapterLoad(TransferReportInput? transfer, ProfileFitOptions o, EngineReportInput engine)
    {
        if (transfer is not null)
        {
            var (constant, bandwidth, r2, n) = FitTransfer(transfer, o.TransferTransport);
            return (Math.Max(0, constant), bandwidth,
                $"{o.TransferSource ?? "transfer report"}: least squares of pull_ms = constant + bytes ÷ bandwidth over its {n} '{o.TransferTransport}' cases (R² {F(r2, 4)})");
        }
        double gbs = o.AdapterLoadBandwidthGbs ?? engine.BandwidthGbs;
        if (!(gbs > 0)) throw new FormatException("no transfer report, no adapter load bandwidth given and no bandwidth in the engine report");
        return (o.AdapterLoadConstantMs, gbs, o.AdapterLoadSource
            ?? $"no transfer report: LoRAServe's modelled load constant ({F(o.AdapterLoadConstantMs, 0)} ms, research notes §1) and {options(gbs)} ");

        string options(double g) => o.AdapterLoadBandwidthGbs is null
            ? $"this machine's read bandwidth from {o.EngineSource} ({F(g, 1)} GB/s: an in-memory copy); replace with `--transfer` from `loraqueue bench transfer --json`"
            : $"{F(g, 1)} GB/s given on the command line";
    }

    /// <summary>4 significant digits: profiles stay readable and the rounding is far below the fit's error.</summary>
    static double Round(double value) => value == 0 ? 0 : double.Parse(value.ToString("G4", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    static string Name(StepCostForm form) => form == StepCostForm.Roofline ? "roofline" : "linear";

    static string F(double value, int digits) => value.ToString("F" + digits, CultureInfo.InvariantCulture);
}
