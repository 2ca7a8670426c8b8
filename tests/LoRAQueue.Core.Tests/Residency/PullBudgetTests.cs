using LoRAQueue.Core.Residency;

namespace LoRAQueue.Core.Tests.Residency;

public sealed class PullBudgetTests
{
    [Fact]
    public async Task Pulls_wait_until_their_bytes_fit_and_go_in_arrival_order()
    {
        var budget = new PullBudget(100);
        var first = await budget.AcquireAsync(60, CancellationToken.None);
        var second = budget.AcquireAsync(60, CancellationToken.None);
        var third = budget.AcquireAsync(10, CancellationToken.None); // would fit, but waits its turn behind the second

        Assert.False(second.IsCompleted);
        Assert.False(third.IsCompleted);
        first.Dispose();
        (await second).Dispose();
        (await third).Dispose();
        Assert.Equal(0, budget.InFlightBytes);
    }

    [Fact]
    public async Task A_pull_larger_than_the_budget_runs_alone()
    {
        var budget = new PullBudget(100);
        using var huge = await budget.AcquireAsync(500, CancellationToken.None);
        Assert.Equal(500, budget.InFlightBytes);
        Assert.False(budget.AcquireAsync(1, CancellationToken.None).IsCompleted);
    }

    [Fact]
    public async Task A_cancelled_wait_takes_nothing()
    {
        var budget = new PullBudget(100);
        var held = await budget.AcquireAsync(100, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var waiting = budget.AcquireAsync(50, cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        held.Dispose();
        Assert.Equal(0, budget.InFlightBytes);
    }
}
