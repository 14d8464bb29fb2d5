using Engine.Core.Diagnostics;

namespace Engine.Core.Tests;

/// <summary>The one launcher of the bench peers: the last stdout line is the result, a failing or garbled peer is a
/// one-line reason (never an exception), and the benches' scripts are where their launchers look for them.</summary>
public sealed class PythonPeerTests
{
    private static readonly bool HasPython = File.Exists("/usr/bin/python3")
        || (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "python3")));

    private static PeerRun Run(string script, params string[] arguments) =>
        PythonPeer.Run(typeof(PythonPeerTests).Assembly, $"Engine.Core.Tests.Peers.{script}.py", arguments);

    [Fact]
    public void ThePeersLastLineIsItsResultAndItsArgumentsArrive()
    {
        var run = Run("ok_peer", "a b", "7");
        if (!HasPython)
        {
            Assert.StartsWith("python3 not runnable", run.Error);
            return;
        }
        Assert.Null(run.Error);
        Assert.Equal(0.25, run.Output!["seconds"]!.GetValue<double>());
        Assert.Equal(["a b", "7"], run.Output["args"]!.AsArray().Select(a => a!.GetValue<string>()));
    }

    [Fact]
    public void AFailingPeerIsItsLastErrorLine()
    {
        var run = Run("failing_peer");
        Assert.Null(run.Output);
        if (HasPython) Assert.Equal("ModuleNotFoundError: No module named 'torch'", run.Error);
        else Assert.StartsWith("python3 not runnable", run.Error);
    }

    [Fact]
    public void AGarbledResultIsReportedNotThrown()
    {
        var run = Run("garbled_peer");
        Assert.Null(run.Output);
        Assert.StartsWith(HasPython ? "peer output unreadable" : "python3 not runnable", run.Error);
    }

    [Fact]
    public void AMissingScriptIsAnErrorNamingIt()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Run("no_such_peer"));
        Assert.Contains("no_such_peer", e.Message);
    }

    [Fact]
    public void TheBenchPeersAreEmbeddedWhereTheirLaunchersLook()
    {
        Assert.Contains("Engine.Merge.Benchmarks.arcee_fusion_peer.py", typeof(Engine.Merge.Benchmarks.MergePeer).Assembly.GetManifestResourceNames());
        Assert.Contains("Engine.Cli.Peers.qwen2_sft_peer.py", typeof(Engine.Cli.Commands.BenchSftCommand).Assembly.GetManifestResourceNames());
    }
}
