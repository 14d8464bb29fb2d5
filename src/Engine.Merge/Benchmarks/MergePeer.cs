using System.Globalization;
using Engine.Core.Diagnostics;

namespace Engine.Merge.Benchmarks;

/// <summary>The PyTorch peer's time for the same merge: mergekit's Arcee Fusion applied tensor by tensor
/// (<c>Benchmarks/Peers/arcee_fusion_peer.py</c>, embedded), or why it did not run.</summary>
/// <param name="Torch">The peer's torch version.</param>
/// <param name="Seconds">Its merge time.</param>
/// <param name="Error">One line saying why there is no time; null when there is.</param>
public sealed record MergePeerResult(string? Torch, double? Seconds, string? Error);

/// <summary>Runs the Arcee Fusion peer of <c>engine bench merge --peer</c> through <see cref="PythonPeer"/>.</summary>
public static class MergePeer
{
    /// <summary>Merges <paramref name="baseModel"/> and <paramref name="expert"/> into <paramref name="output"/> (deleted
    /// afterwards) with the peer on <paramref name="threads"/> threads.</summary>
    public static MergePeerResult Run(string baseModel, string expert, string output, int threads)
    {
        try
        {
            var run = PythonPeer.Run(typeof(MergePeer).Assembly, "Engine.Merge.Benchmarks.arcee_fusion_peer.py",
                [baseModel, expert, output, threads.ToString(CultureInfo.InvariantCulture)]);
            if (run.Output is not { } result) return new MergePeerResult(null, null, run.Error);
            return new MergePeerResult(result["torch"]?.GetValue<string>(), result["seconds"]?.GetValue<double>(), null);
        }
        finally
        {
            if (File.Exists(output)) File.Delete(output);
        }
    }
}
