using LoRAQueue.Core.Residency;

namespace LoRAQueue.Core.Tests.Residency;

public sealed class ResidencyBudgetTests
{
    [Fact]
    public void Making_room_evicts_the_least_recently_used_first()
    {
        var tier = new ResidencyBudget<string>(100);
        Assert.True(tier.TryAdmit("a", 40, out _));
        Assert.True(tier.TryAdmit("b", 40, out _));
        tier.Touch("a"); // b is now the least recently used

        Assert.True(tier.TryAdmit("c", 40, out var evicted));

        Assert.Equal(["b"], evicted);
        Assert.Equal(["c", "a"], tier.Keys);
        Assert.Equal(80, tier.UsedBytes);
    }

    [Fact]
    public void A_pinned_adapter_is_never_evicted_and_is_evictable_again_once_unpinned()
    {
        var tier = new ResidencyBudget<string>(100);
        tier.TryAdmit("running", 60, out _);
        var pin = tier.Pin("running");

        Assert.False(tier.TryAdmit("new", 60, out var evicted)); // it would fit only by evicting a running job's adapter
        Assert.Empty(evicted);
        Assert.True(tier.Contains("running"));
        Assert.False(tier.Contains("new"));

        pin.Dispose();
        pin.Dispose(); // a second dispose releases nothing more
        Assert.True(tier.TryAdmit("new", 60, out evicted));
        Assert.Equal(["running"], evicted);
    }

    [Fact]
    public void Pins_count_so_one_job_ending_does_not_release_another()
    {
        var tier = new ResidencyBudget<string>(100);
        tier.TryAdmit("shared", 60, out _);
        var first = tier.Pin("shared");
        using var second = tier.Pin("shared");

        first.Dispose();

        Assert.False(tier.TryAdmit("other", 60, out _));
    }

    [Fact]
    public void What_the_placement_needs_stays_until_the_placement_changes()
    {
        var tier = new ResidencyBudget<string>(100);
        tier.TryAdmit("placed", 50, out _);
        tier.TryAdmit("spare", 50, out _);
        tier.Touch("spare");
        tier.SetNeeded(["placed"]);

        Assert.True(tier.TryAdmit("next", 50, out var evicted));
        Assert.Equal(["spare"], evicted); // although "placed" was used less recently

        tier.SetNeeded([]);
        Assert.True(tier.TryAdmit("later", 50, out evicted));
        Assert.Equal(["placed"], evicted);
    }

    [Fact]
    public void An_adapter_larger_than_the_budget_is_refused_and_nothing_is_evicted()
    {
        var tier = new ResidencyBudget<string>(100);
        tier.TryAdmit("a", 30, out _);

        Assert.False(tier.TryAdmit("huge", 101, out var evicted));

        Assert.Empty(evicted);
        Assert.Equal(["a"], tier.Keys);
        Assert.Equal(30, tier.UsedBytes);
    }

    [Fact]
    public void Admitting_a_held_adapter_only_marks_it_used()
    {
        var tier = new ResidencyBudget<string>(100);
        tier.TryAdmit("a", 30, out _);
        tier.TryAdmit("b", 30, out _);

        Assert.True(tier.TryAdmit("a", 30, out var evicted));

        Assert.Empty(evicted);
        Assert.Equal(["a", "b"], tier.Keys);
        Assert.Equal(60, tier.UsedBytes);
    }

    [Fact]
    public void A_removed_adapter_frees_its_bytes_and_its_old_pins_release_nothing_new()
    {
        var tier = new ResidencyBudget<string>(100);
        tier.TryAdmit("a", 60, out _);
        var stalePin = tier.Pin("a");
        Assert.True(tier.Remove("a")); // e.g. its bytes failed the digest
        tier.TryAdmit("a", 60, out _);
        using var livePin = tier.Pin("a");

        stalePin.Dispose();

        Assert.False(tier.TryAdmit("b", 60, out _)); // the live pin still holds
        Assert.Throws<KeyNotFoundException>(() => tier.Pin("missing"));
    }
}
