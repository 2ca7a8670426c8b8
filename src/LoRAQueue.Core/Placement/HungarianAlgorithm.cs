namespace LoRAQueue.Core.Placement;

/// <summary>
/// Optimal assignment (Kuhn–Munkres with potentials, O(rows²·cols)). Used to match the workers of a new placement to
/// the previous one so that the fewest adapters and queues move: a greedy match can be arbitrarily worse.
/// </summary>
public static class HungarianAlgorithm
{
    /// <summary>Assigns every row a distinct column minimising the summed cost; needs rows ≤ columns.
    /// Returns column[row].</summary>
    public static int[] MinimizeCost(double[,] cost)
    {
        ArgumentNullException.ThrowIfNull(cost);
        int rows = cost.GetLength(0), cols = cost.GetLength(1);
        if (rows > cols) throw new ArgumentException($"need rows ≤ columns (got {rows}×{cols}); transpose the matrix", nameof(cost));
        foreach (var c in cost)
            if (!double.IsFinite(c)) throw new ArgumentException($"costs must be finite (got {c})", nameof(cost));
        if (rows == 0) return [];

        // 1-based arrays with a virtual column 0, as in the classic formulation.
        var rowPotential = new double[rows + 1];
        var colPotential = new double[cols + 1];
        var rowOfCol = new int[cols + 1];
        var previousCol = new int[cols + 1];
        var minSlack = new double[cols + 1];
        var used = new bool[cols + 1];
        for (int row = 1; row <= rows; row++)
        {
            rowOfCol[0] = row;
            int col0 = 0;
            Array.Fill(minSlack, double.PositiveInfinity);
            Array.Clear(used);
            do
            {
                used[col0] = true;
                int r = rowOfCol[col0], nextCol = 0;
                double delta = double.PositiveInfinity;
                for (int c = 1; c <= cols; c++)
                {
                    if (used[c]) continue;
                    double slack = cost[r - 1, c - 1] - rowPotential[r] - colPotential[c];
                    if (slack < minSlack[c]) { minSlack[c] = slack; previousCol[c] = col0; }
                    if (minSlack[c] < delta) { delta = minSlack[c]; nextCol = c; }
                }
                for (int c = 0; c <= cols; c++)
                {
                    if (used[c]) { rowPotential[rowOfCol[c]] += delta; colPotential[c] -= delta; }
                    else minSlack[c] -= delta;
                }
                col0 = nextCol;
            } while (rowOfCol[col0] != 0);
            do
            {
                int prev = previousCol[col0];
                rowOfCol[col0] = rowOfCol[prev];
                col0 = prev;
            } while (col0 != 0);
        }

        var colOfRow = new int[rows];
        for (int c = 1; c <= cols; c++)
            if (rowOfCol[c] != 0) colOfRow[rowOfCol[c] - 1] = c - 1;
        return colOfRow;
    }

    /// <summary>Same, maximising the summed score.</summary>
    public static int[] MaximizeScore(double[,] score)
    {
        ArgumentNullException.ThrowIfNull(score);
        var cost = new double[score.GetLength(0), score.GetLength(1)];
        for (int i = 0; i < score.GetLength(0); i++)
            for (int j = 0; j < score.GetLength(1); j++)
                cost[i, j] = -score[i, j];
        return MinimizeCost(cost);
    }
}
