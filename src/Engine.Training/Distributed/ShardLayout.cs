using System.Collections.Immutable;

namespace Engine.Training.Distributed;

/// <summary>A flat buffer of <see cref="Total"/> elements cut into one contiguous shard per rank, in rank order
/// (ZeRO-1's optimizer shards; the blocks of an all-gather).</summary>
public sealed record ShardLayout
{
    /// <summary>Shards of <paramref name="counts"/> elements, rank 0 first.</summary>
    /// <exception cref="ArgumentException"><paramref name="counts"/> is empty or has a negative count.</exception>
    public ShardLayout(ImmutableArray<long> counts)
    {
        if (counts.IsDefaultOrEmpty) throw new ArgumentException("a shard layout needs at least one rank");
        if (counts.Any(c => c < 0)) throw new ArgumentException("shard counts must be >= 0");
        Counts = counts;
        var offsets = ImmutableArray.CreateBuilder<long>(counts.Length);
        long at = 0;
        foreach (long c in counts)
        {
            offsets.Add(at);
            at += c;
        }
        Offsets = offsets.MoveToImmutable();
        Total = at;
    }

    /// <summary><paramref name="total"/> elements in shards of <c>ceil(total / ranks)</c>, the last ones shorter
    /// (possibly empty).</summary>
    public static ShardLayout Even(long total, int ranks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ranks, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(total);
        long shard = (total + ranks - 1) / ranks;
        return new ShardLayout(Enumerable.Range(0, ranks).Select(r => Math.Clamp(total - r * shard, 0, shard)).ToImmutableArray());
    }

    /// <summary>Elements of each rank's shard.</summary>
    public ImmutableArray<long> Counts { get; }
    /// <summary>Where each rank's shard starts: <c>Offsets[r] = Σ_{i &lt; r} Counts[i]</c>.</summary>
    public ImmutableArray<long> Offsets { get; }
    /// <summary>Elements of the whole buffer: <c>Σ_r Counts[r]</c>.</summary>
    public long Total { get; }
    /// <summary>Shards, one per rank.</summary>
    public int Ranks => Counts.Length;

    /// <summary>The first element of <paramref name="rank"/>'s shard.</summary>
    public long Offset(int rank) => Offsets[rank];

    /// <summary>Throws unless the layout has one shard per rank of a world of <paramref name="worldSize"/>.</summary>
    public void RequireRanks(int worldSize)
    {
        if (Ranks != worldSize) throw new ArgumentException($"a shard layout of {Ranks} ranks in a world of {worldSize}");
    }
    /// <summary>Elements of <paramref name="rank"/>'s shard.</summary>
    public long Count(int rank) => Counts[rank];

    /// <summary>Layouts are equal when their counts are (element by element), whatever array holds them.</summary>
    public bool Equals(ShardLayout? other) => other is not null && Counts.SequenceEqual(other.Counts);
    /// <summary>A hash of the counts, consistent with <see cref="Equals(ShardLayout?)"/>.</summary>
    public override int GetHashCode() => Counts.Aggregate(17, (h, c) => h * 31 + c.GetHashCode());
}
