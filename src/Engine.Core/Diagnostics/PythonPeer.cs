using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Core.Diagnostics;

/// <summary>What a <see cref="PythonPeer"/> run gave: the JSON object of its last stdout line, or why there is none.</summary>
/// <param name="Output">The peer's result; null when it did not run or failed.</param>
/// <param name="Error">One line saying why there is no output; null when there is.</param>
public sealed record PeerRun(JsonNode? Output, string? Error);

/// <summary>Runs a benchmark's PyTorch peer: a Python script embedded in the caller's assembly, written to a temporary
/// file and run with python3; its last stdout line is its JSON result. The one launcher of every bench peer
/// (<c>engine bench merge --peer</c>, <c>engine bench sft --peer</c>): a peer that cannot run is reported, not thrown,
/// so a benchmark still prints its own figures.</summary>
public static class PythonPeer
{
    /// <summary>Runs the script embedded in <paramref name="assembly"/> as <paramref name="resource"/> with
    /// <paramref name="arguments"/>, waits for it and deletes the temporary copy.</summary>
    public static PeerRun Run(Assembly assembly, string resource, IEnumerable<string> arguments)
    {
        string script = Path.Combine(Path.GetTempPath(), $"engine-peer-{Environment.ProcessId}-{Guid.NewGuid():N}-{resource}");
        using (var embedded = assembly.GetManifestResourceStream(resource) ?? throw new InvalidOperationException($"{assembly.GetName().Name} embeds no peer script '{resource}'"))
        using (var file = File.Create(script)) embedded.CopyTo(file);
        try
        {
            var start = new ProcessStartInfo(Python, [script, .. arguments]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(start)!;
            // Both pipes drained at once: a peer that fills stderr must not block on it while stdout is read.
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0) return new PeerRun(null, stderr.Result.Trim().Split('\n').LastOrDefault() is { Length: > 0 } last ? last : $"exit {process.ExitCode}");
            return new PeerRun(JsonNode.Parse(stdout.Trim().Split('\n').Last()), null);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new PeerRun(null, $"{Python} not runnable: {e.Message}");
        }
        catch (JsonException e)
        {
            return new PeerRun(null, $"peer output unreadable: {e.Message}");
        }
        finally
        {
            File.Delete(script);
        }
    }

    /// <summary>The environment variable naming the interpreter that has torch (a GPU machine's venv).</summary>
    public const string PythonVariable = "ENG_PEER_PYTHON";

    /// <summary><see cref="PythonVariable"/> when set; else Debian's /usr/bin/python3, which carries python3-torch
    /// (a python3 earlier on PATH, such as pyenv's, may not).</summary>
    private static string Python => Environment.GetEnvironmentVariable(PythonVariable) is { Length: > 0 } chosen ? chosen
        : File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}
