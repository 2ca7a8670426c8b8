namespace LoRAQueue.Core.Placement;

/// <summary>A placement policy: a pure function of a load snapshot (and the placement in force, for stickiness).</summary>
public interface IPlacementPolicy
{
    /// <summary>The name used on the command line and recorded with each placement.</summary>
    string Name { get; }

    /// <summary>Computes a placement. Throws <see cref="PlacementInputException"/> for a snapshot that cannot be
    /// placed as given. When <paramref name="previous"/> is given the plan carries the moves from it.</summary>
    PlacementPlan Plan(LoadSnapshot snapshot, PlacementPlan? previous);
}

/// <summary>The policies by name.</summary>
public static class PlacementPolicies
{
    public static IReadOnlyList<string> Names { get; } =
        [LoraServePolicy.PolicyName, ReplicateAllPolicy.PolicyName, RandomPartitionPolicy.PolicyName, ContiguousPolicy.PolicyName];

    /// <summary>Creates the named policy; throws ArgumentException listing the known names otherwise.</summary>
    public static IPlacementPolicy Create(string name) => name switch
    {
        LoraServePolicy.PolicyName => new LoraServePolicy(),
        ReplicateAllPolicy.PolicyName => new ReplicateAllPolicy(),
        RandomPartitionPolicy.PolicyName => new RandomPartitionPolicy(),
        ContiguousPolicy.PolicyName => new ContiguousPolicy(),
        _ => throw new ArgumentException($"unknown placement policy '{name}' (known: {string.Join(", ", Names)})", nameof(name)),
    };
}
