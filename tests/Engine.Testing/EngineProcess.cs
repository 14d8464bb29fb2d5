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
        bool killed = false;
        return Run(Start(args), (line, process) =>
        {
            if (killed || killWhen == null || !killWhen(line)) return;
            process.Kill(entireProcessTree: true);
            killed = true;
        });
    }

    /// <summary>How <c>dotnet engine.dll ARGS</c> of this build starts (add environment variables to it).</summary>
    public static ProcessStartInfo Start(params string[] args) => Start(Path.Combine(AppContext.BaseDirectory, "engine.dll"), args);

    /// <summary>How <c>dotnet DLL ARGS</c> starts, for an engine copied elsewhere.</summary>
    public static ProcessStartInfo Start(string dll, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet");
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        return start;
    }

    /// <summary>Runs a process to its end with stdout and stderr captured (stdin closed); <paramref name="onLine"/>
    /// sees every stderr line with the process (to kill it, or a child). Throws after 120 s: no test may hang.</summary>
    public static Result Run(ProcessStartInfo start, Action<string, Process>? onLine = null)
    {
        start.RedirectStandardOutput = start.RedirectStandardError = start.RedirectStandardInput = true;
        start.UseShellExecute = false;
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        // Both pipes are read on threads of their own, not the thread pool: with the other test classes blocking pool
        // threads, a pool reader could start seconds late, and a kill meant for a line would land after the child
        // had long finished the work the test wanted to interrupt.
        string stdoutText = "", stderrText = "";
        var stdoutReader = new Thread(() => stdoutText = process.StandardOutput.ReadToEnd()) { IsBackground = true };
        var stderrReader = new Thread(() =>
        {
            var text = new System.Text.StringBuilder();
            while (process.StandardError.ReadLine() is { } line)
            {
                text.AppendLine(line);
                onLine?.Invoke(line, process);
            }
            stderrText = text.ToString();
        }) { IsBackground = true };
        stdoutReader.Start();
        stderrReader.Start();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{start.FileName} {string.Join(' ', start.ArgumentList)} did not finish in 120 s");
        }
        stdoutReader.Join();
        stderrReader.Join();
        return new Result(process.ExitCode, stdoutText, stderrText);
    }
}
