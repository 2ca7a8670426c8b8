using System.Text;

namespace LoRAQueue.Core.Placement;

/// <summary>
/// Baseline: adapters split at random over the workers, static — the order is a seeded hash of each adapter's id, dealt
/// round robin over the workers (by id), so the same adapters and workers always give the same partition whatever the
/// demand. Each worker consumes the queues of the adapters it holds; every worker serves the base model.
/// </summary>
public sealed class RandomPartitionPolicy(ulong seed = RandomPartitionPolicy.DefaultSeed) : IPlacementPolicy
{
    public const string PolicyName = "random-partition";
    public const ulong DefaultSeed = 0x4C6F_5241_5365_6564; // "LoRASeed"

    public string Name => PolicyName;

    public PlacementPlan Plan(LoadSnapshot snapshot, PlacementPlan? previous)
    {
        var input = PlacementInput.From(snapshot);
        var bins = input.NewBins();
        var shuffled = input.Entries.Where(e => !e.IsBase)
            .OrderBy(e => Hash(e.Id!, seed)).ThenBy(e => e.Id, StringComparer.Ordinal).ToList();
        var position = new Dictionary<PlacementEntry, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < shuffled.Count; i++) position[shuffled[i]] = i;
        var unplaced = BaselineRouting.Deal(shuffled, bins, e => position[e] % bins.Count);
        BaselineRouting.SpreadBase(input, bins);
        return PlanBuilder.Build(Name, input, bins, unplaced, previous);
    }

    /// <summary>FNV-1a over the id's UTF-8 bytes, then the SplitMix64 finaliser with the seed: stable across processes,
    /// unlike string.GetHashCode.</summary>
    internal static ulong Hash(string id, ulong seed)
    {
        ulong h = 0xCBF2_9CE4_8422_2325;
        foreach (byte b in Encoding.UTF8.GetBytes(id)) h = (h ^ b) * 0x0000_0100_0000_01B3;
        ulong z = h ^ seed;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB;
        return z ^ (z >> 31);
    }
}
