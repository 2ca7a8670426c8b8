namespace LoRAQueue.Core.Costs;

/// <summary>The solution of a least-squares problem and how well it fits.</summary>
public sealed record LeastSquaresSolution(
    IReadOnlyList<double> Coefficients,
    IReadOnlyList<double> Predicted,
    double RSquared,
    /// <summary>Columns held at 0: no data point varies them, or the non-negativity constraint is active.</summary>
    IReadOnlyList<int> ZeroColumns);

/// <summary>
/// Small dense least squares: Householder QR on column-scaled data (no normal equations, so a column of KV tokens in the
/// thousands next to the intercept's ones costs no precision), and non-negative least squares for up to ~12 columns by
/// trying every subset of free columns: the NNLS optimum is the unconstrained solution on its own free set, so the
/// feasible subset solution with the smallest residual is it (exact, and cheap for the 5 columns of a step model).
/// Optional weights w_i minimise Σ w_i (y_i − ŷ_i)²; R² is always the plain 1 − Σ(y − ŷ)² / Σ(y − ȳ)².
/// </summary>
public static class LeastSquares
{
    public static LeastSquaresSolution Solve(double[][] rows, double[] y, double[]? weights = null, bool nonNegative = false)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(y);
        int n = rows.Length;
        if (n == 0) throw new ArgumentException("least squares needs at least one point", nameof(rows));
        if (y.Length != n) throw new ArgumentException($"{n} rows but {y.Length} values", nameof(y));
        if (weights is not null && weights.Length != n) throw new ArgumentException($"{n} rows but {weights.Length} weights", nameof(weights));
        int k = rows[0].Length;
        foreach (var row in rows)
            if (row.Length != k) throw new ArgumentException("every row needs the same number of columns", nameof(rows));
        if (k > 12 && nonNegative) throw new ArgumentException("non-negative least squares here is for at most 12 columns", nameof(rows));
        for (int i = 0; i < n; i++)
        {
            if (!double.IsFinite(y[i])) throw new ArgumentException($"value {i} is not finite ({y[i]})", nameof(y));
            if (weights is not null && !(weights[i] > 0 && double.IsFinite(weights[i])))
                throw new ArgumentException($"weight {i} must be positive and finite ({weights[i]})", nameof(weights));
            foreach (double v in rows[i])
                if (!double.IsFinite(v)) throw new ArgumentException($"row {i} holds a value that is not finite", nameof(rows));
        }

        // Columns that are 0 at every point cannot be identified: held at 0.
        var usable = Enumerable.Range(0, k).Where(j => rows.Any(r => r[j] != 0)).ToArray();
        double[]? best = null;
        double bestSse = double.PositiveInfinity;
        if (!nonNegative)
        {
            best = SolveSubset(rows, y, weights, usable, k) ?? throw new ArgumentException("the columns are linearly dependent: the points cannot separate the coefficients", nameof(rows));
        }
        else
        {
            for (int mask = 1; mask < 1 << usable.Length; mask++)
            {
                var subset = usable.Where((_, b) => (mask >> b & 1) != 0).ToArray();
                var x = SolveSubset(rows, y, weights, subset, k);
                if (x is null || x.Any(v => v < 0)) continue;
                double sse = WeightedSse(rows, y, weights, x);
                if (sse < bestSse * (1 - 1e-12)) (best, bestSse) = (x, sse);
            }
            best ??= new double[k];
        }

        var predicted = rows.Select(r => Dot(r, best)).ToArray();
        return new LeastSquaresSolution(best, predicted, RSquared(y, predicted),
            [.. Enumerable.Range(0, k).Where(j => best[j] == 0)]);
    }

    public static double RSquared(IReadOnlyList<double> y, IReadOnlyList<double> predicted)
    {
        double mean = y.Average(), sst = 0, sse = 0;
        for (int i = 0; i < y.Count; i++)
        {
            sst += (y[i] - mean) * (y[i] - mean);
            sse += (y[i] - predicted[i]) * (y[i] - predicted[i]);
        }
        return sst > 0 ? 1 - sse / sst : sse == 0 ? 1 : 0;
    }

    static double Dot(double[] row, double[] x)
    {
        double s = 0;
        for (int j = 0; j < row.Length; j++) s += row[j] * x[j];
        return s;
    }

    static double WeightedSse(double[][] rows, double[] y, double[]? w, double[] x)
    {
        double sse = 0;
        for (int i = 0; i < rows.Length; i++)
        {
            double r = y[i] - Dot(rows[i], x);
            sse += (w?[i] ?? 1) * r * r;
        }
        return sse;
    }

    /// <summary>Least squares on the given columns (others 0) by Householder QR; null when they are (nearly) dependent
    /// or fewer points than columns.</summary>
    static double[]? SolveSubset(double[][] rows, double[] y, double[]? w, int[] columns, int k)
    {
        int n = rows.Length, m = columns.Length;
        if (m == 0 || n < m) return null;
        var a = new double[n, m];
        var b = new double[n];
        var scale = new double[m];
        for (int j = 0; j < m; j++)
        {
            for (int i = 0; i < n; i++) scale[j] = Math.Max(scale[j], Math.Abs(rows[i][columns[j]]));
            if (scale[j] == 0) return null;
        }
        for (int i = 0; i < n; i++)
        {
            double sw = w is null ? 1 : Math.Sqrt(w[i]);
            for (int j = 0; j < m; j++) a[i, j] = sw * rows[i][columns[j]] / scale[j];
            b[i] = sw * y[i];
        }

        var diagonal = new double[m];
        for (int j = 0; j < m; j++)
        {
            double norm = 0;
            for (int i = j; i < n; i++) norm += a[i, j] * a[i, j];
            norm = Math.Sqrt(norm);
            if (norm < 1e-10) return null;
            double alpha = a[j, j] > 0 ? -norm : norm;
            // v = a[j.., j] − alpha·e1, stored in place; H = I − 2vvᵀ/(vᵀv).
            a[j, j] -= alpha;
            double vv = 0;
            for (int i = j; i < n; i++) vv += a[i, j] * a[i, j];
            for (int c = j + 1; c < m; c++)
            {
                double dot = 0;
                for (int i = j; i < n; i++) dot += a[i, j] * a[i, c];
                double f = 2 * dot / vv;
                for (int i = j; i < n; i++) a[i, c] -= f * a[i, j];
            }
            double db = 0;
            for (int i = j; i < n; i++) db += a[i, j] * b[i];
            double fb = 2 * db / vv;
            for (int i = j; i < n; i++) b[i] -= fb * a[i, j];
            diagonal[j] = alpha;
        }
        // Relative rank check: a diagonal of R tiny next to the largest means dependent columns.
        double largest = diagonal.Max(Math.Abs);
        if (diagonal.Any(d => Math.Abs(d) < 1e-9 * largest)) return null;

        var z = new double[m];
        for (int j = m - 1; j >= 0; j--)
        {
            double s = b[j];
            for (int c = j + 1; c < m; c++) s -= a[j, c] * z[c];
            z[j] = s / diagonal[j];
        }
        var x = new double[k];
        for (int j = 0; j < m; j++) x[columns[j]] = z[j] / scale[j];
        return x;
    }
}
