using System.Text;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Training.Distributed;

namespace Engine.Training.Sft;

/// <summary>A problem every rank of a job detected alike (they compared the same gathered facts), so every rank
/// stops with it and only rank 0 needs to say so.</summary>
public sealed class JobWideException(string message) : EngineException(message);

/// <summary>Start-of-run checks that the ranks of one job agree: the same settings (model content, data, sequence
/// length, seed, zero stage, ...; see <see cref="RunSettings"/>) and an output directory they all see.</summary>
public static class RankAgreement
{
    /// <summary>Throws a <see cref="JobWideException"/> naming the first setting on which some rank differs from
    /// rank 0, with both values and the ranks.</summary>
    public static void CheckSettings(TrainingWorld world, JsonObject settings)
    {
        if (!world.IsDistributed) return;
        var mine = new JsonObject();
        foreach (var (key, value) in settings)
            if (!RunSettings.MayDifferAcrossRanks.Contains(key)) mine[key] = value?.DeepClone();
        var all = world.AllGather(Encoding.UTF8.GetBytes(mine.ToJsonString())).Select(b => JsonNode.Parse(b)!.AsObject()).ToArray();
        foreach (var (key, value) in all[0])
        {
            string expected = value?.ToJsonString() ?? "null";
            var differ = Enumerable.Range(1, all.Length - 1).Where(r => (all[r][key]?.ToJsonString() ?? "null") != expected).ToList();
            if (differ.Count == 0) continue;
            string other = all[differ[0]][key]?.ToJsonString() ?? "null";
            throw new JobWideException($"sft: the ranks disagree on {RunSettings.Describe(key)}: rank 0 has {RunSettings.Shorten(expected)}, " +
                $"rank{(differ.Count > 1 ? "s" : "")} {string.Join(", ", differ)} {(differ.Count > 1 ? "have" : "has")} {RunSettings.Shorten(other)}" +
                (differ.Count > 1 ? " (or another value)" : "") + "; start every rank with the same options and files");
        }
    }

    /// <summary>Rank 0 leaves a marker file in <paramref name="outDir"/>; every rank must see it there, since
    /// ranks write their optimizer shards into the checkpoint rank 0 publishes.</summary>
    public static void CheckSharedOutput(TrainingWorld world, string outDir)
    {
        if (!world.IsDistributed) return;
        string name = world.Broadcast(world.Rank == 0 ? $".ranks-{Guid.NewGuid():N}" : "");
        string marker = Path.Combine(outDir, name);
        if (world.Rank == 0) File.WriteAllText(marker, "");
        world.Barrier();
        var seen = world.AllGather([(byte)(File.Exists(marker) ? 1 : 0)]);
        world.Barrier();
        if (world.Rank == 0) File.Delete(marker);
        var blind = Enumerable.Range(0, seen.Length).Where(r => seen[r][0] == 0).ToList();
        if (blind.Count > 0)
            throw new JobWideException($"sft: --out {outDir}: rank{(blind.Count > 1 ? "s" : "")} {string.Join(", ", blind)} cannot see rank 0's files there; " +
                "every rank writes its optimizer shard into the checkpoints, so --out must be a directory all ranks share (for instance on NFS)");
    }
}
