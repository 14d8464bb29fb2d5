using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Training;

namespace Engine.Cli.Commands;

/// <summary>The PyTorch peer of <c>engine bench sft --peer</c>, embedded in the CLI and run with the same shape,
/// batch and repeat count.</summary>
public static class BenchSftPeer
{
    /// <summary>The environment variable naming the Python interpreter to run the peer with.</summary>
    public const string PythonVariable = "ENG_PEER_PYTHON";
    /// <summary>Runs the peer of the same shape and batch and adds its figures to <paramref name="report"/>
    /// (<c>peer_error</c> saying why when it could not run). On a GPU (<paramref name="cuda"/>) the peer is
    /// <c>qwen2_sft_cuda_peer.py</c>, transformers' Qwen2 under bf16 autocast with fused AdamW, whose whole training
    /// step is compared with the native step as well; on the CPU <c>qwen2_sft_peer.py</c> on the same threads.</summary>
    public static void Run(JsonObject report, Qwen2Config c, int docs, int docLen, int threads, int repeat, bool cuda)
    {
        string name = cuda ? "qwen2_sft_cuda_peer.py" : "qwen2_sft_peer.py";
        string script = Path.Combine(Path.GetTempPath(), $"engine-{Path.GetFileNameWithoutExtension(name)}-{Environment.ProcessId}.py");
        using (var resource = Assembly.GetExecutingAssembly().GetManifestResourceStream("Engine.Cli.Peers." + name)!)
        using (var file = File.Create(script)) resource.CopyTo(file);
        // ENG_PEER_PYTHON names the interpreter that has torch (a GPU machine's venv); else Debian's /usr/bin/python3,
        // which carries python3-torch here (a python3 earlier on PATH, such as pyenv's, may not).
        string python = Environment.GetEnvironmentVariable(PythonVariable) is { Length: > 0 } chosen ? chosen
            : File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        try
        {
            string[] args = [script, .. new[] { c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKeyValueHeads, c.VocabSize, docs, docLen, threads, repeat }.Select(x => x.ToString())];
            var start = new ProcessStartInfo(python, args) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(start)!;
            var stderrTask = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            string stderr = stderrTask.Result;
            if (process.ExitCode != 0)
            {
                report["peer_error"] = stderr.Trim().Split('\n').LastOrDefault() ?? $"exit {process.ExitCode}";
                return;
            }
            var result = JsonNode.Parse(stdout.Trim().Split('\n').Last())!;
            double seconds = result["seconds"]!.GetValue<double>();
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
        catch (System.ComponentModel.Win32Exception e)
        {
            report["peer_error"] = $"{python} not runnable: {e.Message}";
        }
        catch (JsonException e)
        {
            report["peer_error"] = $"peer output unreadable: {e.Message}";
        }
        finally
        {
            File.Delete(script);
        }
    }
}
