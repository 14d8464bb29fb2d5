using System.Collections.Immutable;
using System.Diagnostics;
using Engine.Core.Model;
using Engine.Core.Safetensors;
using Engine.Testing;

namespace Engine.Core.Tests;

/// <summary>Interrupted writes leave nothing at the target: an exception, a cancellation, or a killed process.</summary>
public sealed class AtomicWriteTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly TensorSpec[] Specs =
    [
        new("a", DType.BF16, ImmutableArray.Create(64L, 8L)),
        new("b", DType.F32, ImmutableArray.Create(100L)),
        new("c", DType.U8, ImmutableArray.Create(3L)),
    ];

    /// <summary>Everything in the parent folder except the temp directory's own bookkeeping.</summary>
    private string[] Entries() => Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    private static void WriteAll(ShardWriter writer, byte fill)
    {
        foreach (var s in Specs) writer.WriteTensor(s.Name, Enumerable.Repeat(fill, (int)s.ByteLength).ToArray());
    }

    [Fact]
    public void CommittedOutputIsTheOnlyEntryLeft()
    {
        string target = _dir.Combine("out");
        using (var writer = ShardWriter.Create(target, Specs, new ShardWriterOptions(maxShardBytes: 500)))
        {
            Assert.False(Directory.Exists(target));
            WriteAll(writer, 1);
            writer.WriteFile("config.json", "{}"u8);
            Assert.False(Directory.Exists(target));
            writer.Commit();
        }
        Assert.Equal(["out"], Entries());
        Assert.Equal(["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", ModelDirectory.IndexFileName],
            Directory.GetFiles(target).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ExceptionMidWriteLeavesNothing()
    {
        string target = _dir.Combine("out");
        void FailMidWrite()
        {
            using var writer = ShardWriter.Create(target, Specs, new ShardWriterOptions(maxShardBytes: 500));
            writer.WriteTensor("a", new byte[512]);
            Assert.NotEmpty(Entries());
            throw new InvalidDataException("a kernel failed");
        }
        var e = Assert.Throws<InvalidDataException>(FailMidWrite);
        Assert.Equal("a kernel failed", e.Message);
        Assert.Empty(Entries());
    }

    [Fact]
    public async Task CancellationMidWriteLeavesNothing()
    {
        string target = _dir.Combine("out");
        using var cancel = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            using var writer = ShardWriter.Create(target, Specs, new ShardWriterOptions());
            foreach (var s in Specs)
            {
                await Task.Yield();
                cancel.Token.ThrowIfCancellationRequested();
                writer.WriteTensor(s.Name, new byte[s.ByteLength]);
                cancel.Cancel();
            }
        });
        Assert.Empty(Entries());
    }

    [Fact]
    public void IncompleteTensorRefusesToCommitAndLeavesNothing()
    {
        string target = _dir.Combine("out");
        using (var writer = ShardWriter.Create(target, Specs, new ShardWriterOptions()))
        {
            writer.WriteTensor("a", new byte[1024]);
            writer.WriteTensor("b", new byte[200], 0);
            writer.WriteTensor("c", new byte[3]);
            var e = Assert.Throws<InvalidOperationException>(writer.Commit);
            Assert.Equal("tensor 'b' received 200 of 400 bytes", e.Message);
        }
        Assert.Empty(Entries());
    }

    [Fact]
    public void OverlappingOrOverrunningWritesAreRejected()
    {
        using var writer = ShardWriter.Create(_dir.Combine("out"), Specs, new ShardWriterOptions());
        writer.WriteTensor("b", new byte[200], 100);
        Assert.Throws<ArgumentException>(() => writer.WriteTensor("b", new byte[8], 296));
        Assert.Throws<ArgumentException>(() => writer.WriteTensor("b", new byte[101], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.WriteTensor("b", new byte[8], 396));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.WriteTensor("b", new byte[1], -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.WriteTensor("b", new byte[1], long.MaxValue));
        Assert.Throws<ArgumentException>(() => writer.WriteTensor("nope", new byte[1]));
        writer.WriteTensor("b", new byte[100], 0);
        writer.WriteTensor("b", new byte[100], 300);
        Assert.Throws<ArgumentException>(() => writer.WriteFile("../escape.txt", "x"u8));
        Assert.False(File.Exists(_dir.Combine("escape.txt")));
    }

    [Fact]
    public void ReservedOrDuplicateTensorNamesAreRejectedBeforeAnythingIsCreated()
    {
        var meta = new TensorSpec("__metadata__", DType.U8, ImmutableArray.Create(1L));
        Assert.Throws<ArgumentException>(() => ShardWriter.Create(_dir.Combine("out"), [meta], new ShardWriterOptions()).Dispose());
        Assert.Throws<ArgumentException>(() => ShardWriter.Create(_dir.Combine("out"), [Specs[0], Specs[0]], new ShardWriterOptions()).Dispose());
        Assert.Empty(Entries());
    }

    [Fact]
    public void ExistingTargetIsRefusedWithoutOverwrite()
    {
        string target = _dir.Combine("out");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "keep.txt"), "old");
        var e = Assert.Throws<OutputException>(() => ShardWriter.Create(target, Specs, new ShardWriterOptions()).Dispose());
        Assert.Equal($"{target}: output already exists (pass --overwrite to replace it)", e.Message);
        Assert.Equal(["out"], Entries());
        Assert.Equal("old", File.ReadAllText(Path.Combine(target, "keep.txt")));
    }

    [Fact]
    public void OverwriteReplacesTheTargetOnlyAtCommit()
    {
        string target = _dir.Combine("out");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "keep.txt"), "old");

        // Abandoned: the old output is untouched.
        using (var writer = ShardWriter.Create(target, Specs, new ShardWriterOptions(overwrite: true)))
        {
            WriteAll(writer, 2);
            Assert.Equal("old", File.ReadAllText(Path.Combine(target, "keep.txt")));
        }
        Assert.Equal(["out"], Entries());
        Assert.Equal("old", File.ReadAllText(Path.Combine(target, "keep.txt")));

        using (var writer = ShardWriter.Create(target, Specs, new ShardWriterOptions(overwrite: true)))
        {
            WriteAll(writer, 3);
            Assert.True(File.Exists(Path.Combine(target, "keep.txt")));
            writer.Commit();
        }
        Assert.Equal(["out"], Entries());
        Assert.False(File.Exists(Path.Combine(target, "keep.txt")));
        using var model = ModelDirectory.Open(target);
        using var view = model.GetTensor("c").Read();
        Assert.Equal(new byte[] { 3, 3, 3 }, view.Bytes.ToArray());
    }

    [Fact]
    public void OverwriteSwapsAtomicallyAndSyncsTheParentOnLinux()
    {
        if (!OperatingSystem.IsLinux()) return;
        string a = _dir.Combine("a"), b = _dir.Combine("b");
        Directory.CreateDirectory(a);
        Directory.CreateDirectory(b);
        File.WriteAllText(Path.Combine(a, "from-a"), "");
        File.WriteAllText(Path.Combine(b, "from-b"), "");
        Assert.True(Engine.Interop.Posix.PosixFileSystem.TryExchange(a, b));
        Assert.True(File.Exists(Path.Combine(a, "from-b")));
        Assert.True(File.Exists(Path.Combine(b, "from-a")));
        Assert.False(Engine.Interop.Posix.PosixFileSystem.TryExchange(a, _dir.Combine("missing")));
        Assert.True(Engine.Interop.Posix.PosixFileSystem.TrySyncDirectory(_dir.Path));
        Assert.False(Engine.Interop.Posix.PosixFileSystem.TrySyncDirectory(_dir.Combine("missing")));
    }

    [Fact]
    public void TargetAppearingDuringTheWriteIsNotReplacedWithoutOverwrite()
    {
        string target = _dir.Combine("out");
        using (var writer = ShardWriter.Create(target, Specs, new ShardWriterOptions()))
        {
            WriteAll(writer, 1);
            Directory.CreateDirectory(target);
            Assert.Throws<OutputException>(writer.Commit);
        }
        Assert.Equal(["out"], Entries());
        Assert.Empty(Directory.GetFileSystemEntries(target));
    }

    [Fact]
    public void LiveWritersPartialIsNotTakenForStale()
    {
        string target = _dir.Combine("out");
        using var first = ShardWriter.Create(_dir.Combine("out"), Specs, new ShardWriterOptions());
        var partials = Entries();
        Assert.Equal(2, partials.Length); // the staging directory and its lock
        Assert.Equal(0, AtomicDirectory.DeleteStalePartials(_dir.Path, "out"));
        using (var second = ShardWriter.Create(target, Specs, new ShardWriterOptions()))
        {
            Assert.Equal(4, Entries().Length);
        }
        Assert.Equal(partials, Entries());
        WriteAll(first, 5);
        first.Commit();
        Assert.Equal(["out"], Entries());
    }

    [Fact]
    public void KilledWriterLeavesNothingAtTheTargetAndTheNextWriterCleansItsPartial()
    {
        string target = _dir.Combine("out");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Engine.Core.Tests.dll"));
        start.ArgumentList.Add("write-and-hang");
        start.ArgumentList.Add(target);
        using (var child = Process.Start(start)!)
        {
            try
            {
                var line = child.StandardOutput.ReadLineAsync();
                Assert.True(line.Wait(TimeSpan.FromSeconds(60)), "the child never started writing");
                if (line.Result != "writing") Assert.Fail($"child said '{line.Result}', stderr: {child.StandardError.ReadToEnd()}");
                var staging = Directory.GetDirectories(_dir.Path).Single();
                Assert.StartsWith(".out.partial-", Path.GetFileName(staging));
                Assert.NotEmpty(Directory.GetFiles(staging, "*.safetensors"));
            }
            finally
            {
                child.Kill(entireProcessTree: true); // SIGKILL: no finally blocks, no disposal in the child
                child.WaitForExit();
            }
        }
        Assert.False(Directory.Exists(target));
        Assert.False(File.Exists(target));
        // What a SIGKILL leaves: the hidden staging directory and its (now unlocked) lock file.
        Assert.All(Entries(), e => Assert.StartsWith(".out.partial-", e));
        Assert.NotEmpty(Entries());

        using (var writer = ShardWriter.Create(target, Specs, new ShardWriterOptions()))
        {
            Assert.Equal(2, Entries().Length); // the stale pair is gone; only this writer's pair remains
            WriteAll(writer, 7);
            writer.Commit();
        }
        Assert.Equal(["out"], Entries());
    }

    [Fact]
    public void KilledEngineCommandLeavesNothingAtItsTarget()
    {
        // `engine bench io` writes a 510 MB checkpoint under TMPDIR before measuring: killed as soon as its
        // first shard appears, it is seconds away from committing.
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "engine.dll"));
        start.ArgumentList.Add("bench");
        start.ArgumentList.Add("io");
        start.Environment["TMPDIR"] = _dir.Path;
        start.Environment["DOTNET_EnableDiagnostics"] = "0"; // no debugger pipes in TMPDIR, so only engine's files land there
        string target;
        using (var child = Process.Start(start)!)
        {
            try
            {
                var line = child.StandardError.ReadLineAsync();
                Assert.True(line.Wait(TimeSpan.FromSeconds(60)), "engine never said where it writes");
                const string prefix = "engine: writing a benchmark checkpoint to ";
                if (line.Result is not { } said || !said.StartsWith(prefix, StringComparison.Ordinal)) throw new Xunit.Sdk.XunitException($"engine said '{line.Result}'");
                target = line.Result[prefix.Length..];
                Assert.Equal(_dir.Path, Path.GetDirectoryName(target));
                var clock = Stopwatch.StartNew();
                while (!Directory.EnumerateDirectories(_dir.Path, $".{Path.GetFileName(target)}.partial-*").Any(d => Directory.EnumerateFiles(d, "*.safetensors").Any()))
                {
                    Assert.False(child.HasExited, "engine exited before its write was seen");
                    Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "no partial output appeared");
                    Thread.Sleep(5);
                }
            }
            finally
            {
                child.Kill(entireProcessTree: true);
                child.WaitForExit();
            }
        }
        Assert.False(Directory.Exists(target));
        Assert.NotEmpty(Entries());
        Assert.All(Entries(), e => Assert.StartsWith($".{Path.GetFileName(target)}.partial-", e));
        Assert.Equal(1, AtomicDirectory.DeleteStalePartials(_dir.Path, Path.GetFileName(target)));
        Assert.Empty(Entries());
    }

    [Fact]
    public void StalePartialsOfOtherTargetsAreLeftAlone()
    {
        string other = _dir.Combine($".out.partial-x.partial-1-{Guid.NewGuid():N}");
        string unrelated = _dir.Combine(".out.partial-notes");
        Directory.CreateDirectory(other);
        Directory.CreateDirectory(unrelated);
        string stale = _dir.Combine($".out.partial-42-{Guid.NewGuid():N}");
        Directory.CreateDirectory(stale);
        Assert.Equal(1, AtomicDirectory.DeleteStalePartials(_dir.Path, "out"));
        Assert.False(Directory.Exists(stale));
        Assert.True(Directory.Exists(other));
        Assert.True(Directory.Exists(unrelated));
    }
}
