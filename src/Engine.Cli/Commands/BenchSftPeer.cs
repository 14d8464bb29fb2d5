using System.Globalization;
using System.Text.Json.Nodes;
using Engine.Core.Diagnostics;
using Engine.Training;

namespace Engine.Cli.Commands;

/// <summary>The PyTorch peer of <c>engine bench sft --peer</c>, embedded in the CLI and run by <see cref="PythonPeer"/>
/// with the same shape, batch and repeat count.</summary>
public static class BenchSftPeer
{
    /// <summary>Runs the peer of the same shape and batch and adds its figures to <paramref name="report"/>
    /// (<c>peer_error</c> saying why when it could not run). On a GPU (<paramref name="cuda"/>) the peer is
    /// <c>qwen2_sft_cuda_peer.py</c>, transformers' Qwen2 under bf16 autocast with fused AdamW, whose whole training
    /// step is compared with the native step as well; on the CPU <c>qwen2_sft_peer.py</c> on the same threads.
    /// <see cref="PythonPeer.PythonVariable"/> picks the interpreter.</summary>
    public static void Run(JsonObject report, Qwen2Config c, int docs, int docLen, int threads, int repeat, bool cuda)
    {
        string name = cuda ? "qwen2_sft_cuda_peer.py" : "qwen2_sft_peer.py";
        int[] shape = [c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKeyValueHeads, c.VocabSize, docs, docLen, threads, repeat];
        var run = PythonPeer.Run(typeof(BenchSftPeer).Assembly, "Engine.Cli.Peers." + name, shape.Select(x => x.ToString(CultureInfo.InvariantCulture)));
        if (run.Output is not { } result || result["seconds"]?.GetValue<double>() is not { } seconds)
        {
            report["peer_error"] = run.Error ?? "the peer reported no time";
            return;
        }
        report["peer"] = result["model"] is { } model
            ? $"{model.GetValue<string>()} (torch {result["torch"]!.GetValue<string>()}, {result["precision"]?.GetValue<string>()})"
            : "plain torch " + result["torch"]!.GetValue<string>();
        report["peer_seconds"] = Math.Round(seconds, 4);
        report["peer_tokens_per_s"] = Math.Round(docs * docLen / seconds, 1);
        report["speedup_over_peer"] = Math.Round(seconds / report["native_seconds"]!.GetValue<double>(), 2);
        if (result["step_seconds"] is { } step)
        {
            report["peer_step_seconds"] = Math.Round(step.GetValue<double>(), 4);
            report["peer_step_tokens_per_s"] = Math.Round(docs * docLen / step.GetValue<double>(), 1);
            report["step_speedup_over_peer"] = Math.Round(step.GetValue<double>() / report["step_seconds"]!.GetValue<double>(), 3);
        }
    }
}
