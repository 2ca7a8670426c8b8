using LoRAQueue.Core.Placement;

namespace LoRAQueue.Core.Tests.Placement;

public class HungarianAlgorithmTests
{
    [Fact]
    public void Solves_a_known_instance()
    {
        // Greedy, row by row, takes 1 + 9 + 1 = 11; the optimum is 2 + 1 + 1 = 4.
        double[,] cost = { { 1, 2, 9 }, { 1, 9, 9 }, { 9, 9, 1 } };
        Assert.Equal([1, 0, 2], HungarianAlgorithm.MinimizeCost(cost));
    }

    [Fact]
    public void Matches_brute_force_on_random_square_and_rectangular_matrices()
    {
        var random = new Random(3);
        for (int c = 0; c < 600; c++)
        {
            int rows = random.Next(1, 7), cols = rows + random.Next(0, 3);
            var cost = new double[rows, cols];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                    cost[i, j] = c % 3 == 0 ? random.Next(0, 4) : Math.Round(random.NextDouble() * 100 - 30, 2); // ties, negatives

            var assignment = HungarianAlgorithm.MinimizeCost(cost);
            Assert.Equal(rows, assignment.Distinct().Count());
            Assert.All(assignment, col => Assert.InRange(col, 0, cols - 1));
            double found = Enumerable.Range(0, rows).Sum(i => cost[i, assignment[i]]);
            Assert.Equal(BruteForceMinimum(cost), found, 9);
        }
    }

    [Fact]
    public void Maximize_is_minimize_of_the_negation()
    {
        double[,] score = { { 1, 9 }, { 8, 2 } };
        Assert.Equal([1, 0], HungarianAlgorithm.MaximizeScore(score));
    }

    [Fact]
    public void Rejects_more_rows_than_columns_and_non_finite_costs()
    {
        Assert.Throws<ArgumentException>(() => HungarianAlgorithm.MinimizeCost(new double[3, 2]));
        Assert.Throws<ArgumentException>(() => HungarianAlgorithm.MinimizeCost(new double[,] { { double.PositiveInfinity } }));
        Assert.Empty(HungarianAlgorithm.MinimizeCost(new double[0, 3]));
    }

    private static double BruteForceMinimum(double[,] cost)
    {
        int rows = cost.GetLength(0), cols = cost.GetLength(1);
        double best = double.PositiveInfinity;
        var used = new bool[cols];
        void Search(int row, double sum)
        {
            if (row == rows) { best = Math.Min(best, sum); return; }
            for (int col = 0; col < cols; col++)
            {
                if (used[col]) continue;
                used[col] = true;
                Search(row + 1, sum + cost[row, col]);
                used[col] = false;
            }
        }
        Search(0, 0);
        return best;
    }
}
