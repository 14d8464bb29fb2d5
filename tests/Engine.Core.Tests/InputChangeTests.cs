using Engine.Core.Model;
using Engine.Core.Safetensors;
using Engine.Testing;

namespace Engine.Core.Tests;

/// <summary>An input changed by another process while it is open: every read and the check before publishing
/// report it as one <see cref="InputChangedException"/> naming the file; a truncated file never faults.</summary>
public sealed class InputChangeTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _model;
    private readonly string _shard;

    public InputChangeTests()
    {
        _model = _dir.Combine("m");
        TestModels.Write(_model, DType.F32, [("a", [64, 64], new float[4096]), ("b", [64, 64], new float[4096])]);
        _shard = Path.Combine(_model, "model.safetensors");
        // A checkpoint written a while ago, as inputs are: a change now gets a different modification time even
        // on file systems whose timestamps tick in milliseconds (the limit docs/fuzzing.md and the README state).
        File.SetLastWriteTimeUtc(_shard, DateTime.UtcNow.AddHours(-1));
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void TruncatedWhileOpenIsReportedNotFaulted()
    {
        using var model = ModelDirectory.Open(_model);
        using (model.GetTensor("a").Read()) { }
        using (var handle = File.OpenHandle(_shard, FileMode.Open, FileAccess.Write)) RandomAccess.SetLength(handle, 100);
        var e = Assert.Throws<InputChangedException>(() => model.GetTensor("b").Read());
        Assert.Contains(_shard, e.Message);
        Assert.Contains("length went from", e.Message);
    }

    [Fact]
    public void RewrittenInPlaceIsReported()
    {
        using var model = ModelDirectory.Open(_model);
        var bytes = File.ReadAllBytes(_shard);
        bytes[^1] ^= 0x40;
        File.WriteAllBytes(_shard, bytes);
        var e = Assert.Throws<InputChangedException>(() => model.GetTensor("a").Read());
        Assert.Contains("rewritten", e.Message);
        Assert.Throws<InputChangedException>(() => model.Shards[0].CheckUnchanged());
    }

    [Fact]
    public void ReplacedByRenameIsReported()
    {
        using var model = ModelDirectory.Open(_model);
        string other = _dir.Combine("other.safetensors");
        File.Copy(_shard, other);
        File.Move(other, _shard, overwrite: true);
        var e = Assert.Throws<InputChangedException>(() => model.Shards[0].CheckUnchanged());
        Assert.Contains("replaced", e.Message);
    }

    [Fact]
    public void SymlinkedShardIsFollowedAndNotMistakenForAChange()
    {
        string linked = _dir.Combine("linked");
        Directory.CreateDirectory(linked);
        File.Copy(Path.Combine(_model, "config.json"), Path.Combine(linked, "config.json"));
        File.CreateSymbolicLink(Path.Combine(linked, "model.safetensors"), _shard);
        using var model = ModelDirectory.Open(linked);
        using (model.GetTensor("a").Read()) { }
        model.Shards[0].CheckUnchanged();
    }

    [Fact]
    public void ConcurrentTruncationEndsInAnErrorOrACompleteRead()
    {
        // Reads race a writer that truncates and restores the file; each read must end whole or as the typed
        // error, never as a crash (a memory-mapped read of a truncated page kills the process).
        var original = File.ReadAllBytes(_shard);
        using var stop = new CancellationTokenSource();
        using var started = new ManualResetEventSlim();
        var writer = Task.Run(() =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                using var handle = File.OpenHandle(_shard, FileMode.Open, FileAccess.Write);
                RandomAccess.SetLength(handle, i % 2 == 0 ? 200 : original.Length);
                if (i % 2 == 1) RandomAccess.Write(handle, original, 0);
                started.Set();
            }
        });
        // On a loaded machine the writer may start late: read until it has overlapped a read (or 30 s passed).
        Assert.True(started.Wait(TimeSpan.FromSeconds(30)), "the writer never started");
        int errors = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int round = 0; round < 200 || (errors == 0 && clock.Elapsed < TimeSpan.FromSeconds(30)); round++)
        {
            try
            {
                using var model = ModelDirectory.Open(_model);
                foreach (var t in model.Tensors) using (t.Read()) { }
                model.Shards[0].CheckUnchanged();
            }
            catch (EngineException)
            {
                errors++;
            }
        }
        stop.Cancel();
        writer.Wait();
        Assert.True(errors > 0, "the writer never overlapped a read: the test tested nothing");
    }
}
