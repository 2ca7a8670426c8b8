using LoRAQueue.Core.Placement;

namespace LoRAQueue.Core.Tests.Placement;

/// <summary>Invariants of every policy over a few hundred random snapshots each (seeded, so failures reproduce).</summary>
public class PolicyPropertyTests
{
    private const int Cases = 300;

    public static TheoryData<string> Policies => [.. PlacementPolicies.Names];

    [Theory]
    [MemberData(nameof(Policies))]
    public void Every_plan_serves_all_demand_within_memory_with_budgets_summing_to_N(string policyName)
    {
        var policy = PlacementPolicies.Create(policyName);
        var generator = new SnapshotGenerator(seed: 1);
        int tightCases = 0;
        for (int i = 0; i < Cases; i++)
        {
            var snapshot = generator.Next(out var memory);
            var plan = policy.Plan(snapshot, previous: null);
            Assert.Equal(policyName, plan.Policy);
            PlanInvariants.Check(snapshot, plan, $"{policyName} case {i} ({memory})");
            // Only where memory is tight can an adapter fit nowhere (the check above says it then truly fits nowhere).
            if (memory == MemoryRegime.Tight) tightCases++;
            else Assert.Empty(plan.Unplaced);
        }
        Assert.InRange(tightCases, Cases / 6, Cases / 2);
    }

    [Theory]
    [MemberData(nameof(Policies))]
    public void The_same_snapshot_gives_the_same_plan_whatever_the_order_it_lists_things_in(string policyName)
    {
        var policy = PlacementPolicies.Create(policyName);
        var generator = new SnapshotGenerator(seed: 2);
        for (int i = 0; i < Cases; i++)
        {
            var snapshot = generator.Next();
            string first = PlacementJson.Write(policy.Plan(snapshot, null));
            Assert.Equal(first, PlacementJson.Write(policy.Plan(snapshot, null)));
            Assert.Equal(first, PlacementJson.Write(PlacementPolicies.Create(policyName).Plan(generator.Shuffle(snapshot), null)));
        }
    }

    [Theory]
    [MemberData(nameof(Policies))]
    public void Plans_hold_the_invariants_when_computed_against_a_previous_plan(string policyName)
    {
        var policy = PlacementPolicies.Create(policyName);
        var generator = new SnapshotGenerator(seed: 3);
        for (int i = 0; i < Cases; i++)
        {
            var before = generator.Next();
            var after = generator.Perturb(before, 0.3);
            var previous = policy.Plan(before, null);
            var plan = policy.Plan(after, previous);
            PlanInvariants.Check(after, plan, $"{policyName} case {i}");
            Assert.NotNull(plan.Moves);
        }
    }

    [Theory]
    [MemberData(nameof(Policies))]
    public void Replanning_an_unchanged_snapshot_against_its_own_plan_moves_nothing(string policyName)
    {
        var policy = PlacementPolicies.Create(policyName);
        var generator = new SnapshotGenerator(seed: 4);
        for (int i = 0; i < Cases; i++)
        {
            var snapshot = generator.Next();
            var moves = policy.Plan(snapshot, policy.Plan(snapshot, null)).Moves!;
            Assert.True(moves.AdapterLoads == 0 && moves.QueueChanges == 0,
                $"case {i}: {moves.AdapterLoads} loads, {moves.QueueChanges} queue changes: {string.Join("; ", moves.Items.Take(5))}");
        }
    }
}
