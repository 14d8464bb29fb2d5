using System.Diagnostics;

namespace Engine.Testing;

/// <summary>Runs the built <c>engine</c> command as a separate process, as a user would.</summary>
public static class EngineProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args) => Run(killWhen: null, args);

    /// <summary>Runs the command and kills it outright (SIGKILL: no cleanup runs, as in a crash or an OOM kill) as
    /// soon as a line of its stderr satisfies <paramref name="killWhen"/>. The exit code then is the kill's.</summary>
    public static Result Run(Func<string, bool>? killWhen, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "engine.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = Task.Run(() =>
        {
            var text = new System.Text.StringBuilder();
            bool killed = false;
            while (process.StandardError.ReadLine() is { } line)
            {
                text.AppendLine(line);
                if (killed || killWhen == null || !killWhen(line)) continue;
                process.Kill(entireProcessTree: true);
                killed = true;
            }
            return text.ToString();
        });
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"engine {string.Join(' ', args)} did not finish in 120 s");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
