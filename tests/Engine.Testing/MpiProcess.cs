using System.Diagnostics;

namespace Engine.Testing;

/// <summary>Runs the built <c>engine</c> as the ranks of an Open MPI job (<c>mpirun --oversubscribe</c>, allowed to
/// run as root as CI does), as a user would. Each rank is one <see cref="Rank"/>: its arguments (MPMD: ranks
/// may differ) and how many processes run them.</summary>
public static class MpiProcess
{
    public sealed record Rank(int Count, string[] Args);

    /// <summary>Whether mpirun is on PATH. .ci/run installs Open MPI and fails when it cannot, so a test that
    /// skips here never hides a missing install in CI.</summary>
    public static bool Available { get; } = Find();

    public static EngineProcess.Result Run(int ranks, params string[] args) => Run(null, [new Rank(ranks, args)]);

    /// <summary>As <see cref="Run(int, string[])"/>, with environment variables passed to every rank.</summary>
    public static EngineProcess.Result RunWith(IReadOnlyDictionary<string, string> environment, int ranks, params string[] args) =>
        Run(null, [new Rank(ranks, args)], environment);

    /// <summary>Runs the job; <paramref name="onLine"/> sees every stderr line with the mpirun process (to kill it
    /// or one of its ranks). Throws after 120 s: no test may hang.</summary>
    public static EngineProcess.Result Run(Action<string, Process>? onLine, IReadOnlyList<Rank> ranks, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("mpirun");
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        start.ArgumentList.Add("--oversubscribe");
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
            start.ArgumentList.Add("-x");
            start.ArgumentList.Add(name);
        }
        for (int i = 0; i < ranks.Count; i++)
        {
            if (i > 0) start.ArgumentList.Add(":");
            start.ArgumentList.Add("-np");
            start.ArgumentList.Add(ranks[i].Count.ToString());
            var engine = EngineProcess.Start(ranks[i].Args);
            start.ArgumentList.Add(engine.FileName);
            foreach (var a in engine.ArgumentList) start.ArgumentList.Add(a);
        }
        return EngineProcess.Run(start, onLine);
    }

    /// <summary>The process ids of the ranks mpirun started (its child processes).</summary>
    public static IReadOnlyList<int> RankProcesses(Process mpirun)
    {
        string children = $"/proc/{mpirun.Id}/task/{mpirun.Id}/children";
        return File.Exists(children)
            ? File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList()
            : [];
    }

    private static bool Find()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("mpirun", "--version") { RedirectStandardOutput = true, RedirectStandardError = true })!;
            p.WaitForExit(10_000);
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
