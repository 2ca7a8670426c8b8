using LoRAQueue.Twin;
using ScottPlot;

namespace LoRAQueue.Cli.Twin;

/// <summary>PNG plots of twin runs (ScottPlot): TTFT CDFs, throughput against request rate, workers needed per policy.</summary>
internal static class TwinPlots
{
    private const int Width = 900, Height = 540;

    /// <summary>One CDF line per run, TTFT in seconds on a log axis, with the SLO marked.</summary>
    public static string TtftCdf(string directory, string name, IReadOnlyList<(string Label, IReadOnlyList<double> Ttfts)> runs, double slo)
    {
        var plot = new Plot();
        foreach (var (label, ttfts) in runs.Where(r => r.Ttfts.Count > 0))
        {
            var sorted = ttfts.Select(t => Math.Max(t, 1e-4)).Order().ToArray();
            var ys = Enumerable.Range(1, sorted.Length).Select(i => (double)i / sorted.Length).ToArray();
            var line = plot.Add.ScatterLine(sorted.Select(Math.Log10).ToArray(), ys);
            line.LegendText = label;
        }
        var sloLine = plot.Add.VerticalLine(Math.Log10(slo));
        sloLine.LegendText = $"SLO {slo:0.###} s";
        sloLine.LinePattern = LinePattern.Dashed;
        plot.Axes.Bottom.TickGenerator = LogTicks();
        plot.Title("TTFT (arrival → first token), CDF");
        plot.XLabel("TTFT, seconds (log)");
        plot.YLabel("share of requests");
        plot.ShowLegend(Alignment.LowerRight);
        return Save(plot, directory, name);
    }

    /// <summary>A figure against offered rate (requests/s), one line per policy: throughput, TTFT p95, attainment.</summary>
    /// <param name="logY">A log axis (TTFT: seconds near the SLO and minutes past the knee on one plot).</param>
    public static string AgainstRate(string directory, string name, string title, string yLabel,
                                     IReadOnlyList<(string Label, IReadOnlyList<(double Rate, double Value)> Points)> series, double? target = null,
                                     bool logY = false)
    {
        var plot = new Plot();
        double Y(double v) => logY ? Math.Log10(Math.Max(v, 1e-3)) : v;
        foreach (var (label, points) in series)
        {
            var line = plot.Add.Scatter(points.Select(p => p.Rate).ToArray(), points.Select(p => Y(p.Value)).ToArray());
            line.LegendText = label;
        }
        if (logY)
            plot.Axes.Left.TickGenerator = LogTicks();
        if (target is { } t)
        {
            var mark = plot.Add.HorizontalLine(Y(t));
            mark.LinePattern = LinePattern.Dashed;
            mark.LegendText = $"target {t:0.###}";
        }
        plot.Title(title);
        plot.XLabel("offered requests/s");
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperLeft);
        return Save(plot, directory, name);
    }

    /// <summary>Bars: the fewest workers each policy needs for the SLO.</summary>
    public static string WorkersNeeded(string directory, string name, IReadOnlyList<CapacityAnswer> answers, string title)
    {
        var plot = new Plot();
        var bars = answers.Select((a, i) => new Bar { Position = i, Value = a.WorkersNeeded ?? 0, Label = a.WorkersNeeded?.ToString() ?? "> max" }).ToArray();
        var barPlot = plot.Add.Bars(bars);
        barPlot.ValueLabelStyle.FontSize = 14;
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, answers.Count).Select(i => (double)i)], [.. answers.Select(a => a.Policy)]);
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.YLabel("workers needed");
        return Save(plot, directory, name);
    }

    /// <summary>Ticks for an axis that carries log10 of its values: one labelled tick per decade, log-spaced minor ticks.</summary>
    private static ScottPlot.TickGenerators.NumericAutomatic LogTicks() => new()
    {
        IntegerTicksOnly = true,
        MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
        LabelFormatter = v => $"{Math.Pow(10, v):0.###}",
    };

    private static string Save(Plot plot, string directory, string name)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, name + ".png");
        plot.SavePng(path, Width, Height);
        return path;
    }
}
