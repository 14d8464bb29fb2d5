using Engine.Core;
using Engine.Core.Model;
using Engine.Kernels.Cpu;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary>A merge whose input changes while it runs ends with one error naming the file and publishes nothing;
/// a merge whose output another run holds fails before doing any work.</summary>
public sealed class MergeInputChangeTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _config;
    private readonly string _baseShard;

    public MergeInputChangeTests()
    {
        var random = new Random(3);
        var tensors = Enumerable.Range(0, 4).Select(i => ($"t{i}", new long[] { 32, 32 }, TestModels.RandomValues(random, 1024))).ToList();
        TestModels.Write(_dir.Combine("b"), DType.F32, tensors);
        TestModels.Write(_dir.Combine("p"), DType.F32, tensors.Select(t => (t.Item1, t.Item2, TestModels.RandomValues(random, 1024))));
        _baseShard = _dir.Combine("b", "model.safetensors");
        // Checkpoints are written well before they are merged; see InputChangeTests for why the test says so.
        File.SetLastWriteTimeUtc(_baseShard, DateTime.UtcNow.AddHours(-1));
        _config = _dir.Combine("c.yml");
        File.WriteAllText(_config, $"merge_method: arcee_fusion\nbase_model: {_dir.Combine("b")}\nmodels: [{{model: {_dir.Combine("p")}}}]\n");
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>Reports on the worker's own thread, so a test can change an input between two tensors.</summary>
    private sealed class Hook(Action<MergeProgress> onTensor) : IProgress<MergeProgress>
    {
        public void Report(MergeProgress value) => onTensor(value);
    }

    private InputChangedException MergeWhile(Action<MergeProgress> change)
    {
        using var kernels = new CpuMergeKernels(1);
        var e = Assert.Throws<InputChangedException>(() =>
            new MergeExecutor(kernels).Run(MergeConfigReader.Load(_config), new MergeRunOptions(_dir.Combine("out")), new Hook(change), CancellationToken.None));
        Assert.Contains(_baseShard, e.Message);
        Assert.False(Directory.Exists(_dir.Combine("out")));
        Assert.Empty(Directory.GetFileSystemEntries(_dir.Path).Where(p => Path.GetFileName(p).StartsWith(".out", StringComparison.Ordinal)));
        return e;
    }

    [Fact]
    public void TruncatedBetweenTensors()
    {
        var e = MergeWhile(p =>
        {
            if (p.Done != 1) return;
            using var handle = File.OpenHandle(_baseShard, FileMode.Open, FileAccess.Write);
            RandomAccess.SetLength(handle, 1000);
        });
        Assert.Contains("length went from", e.Message);
    }

    [Fact]
    public void RewrittenBetweenTensors()
    {
        MergeWhile(p =>
        {
            if (p.Done != 1) return;
            var bytes = File.ReadAllBytes(_baseShard);
            bytes[^4] ^= 0x01;
            File.WriteAllBytes(_baseShard, bytes);
        });
    }

    [Fact]
    public void RewrittenAfterTheLastReadIsCaughtBeforePublishing()
    {
        MergeWhile(p =>
        {
            if (p.Done != p.Total) return;
            File.WriteAllBytes(_baseShard, File.ReadAllBytes(_baseShard));
        });
    }

    [Fact]
    public void OutputHeldByAnotherRunFailsBeforeAnyWork()
    {
        using var kernels = new CpuMergeKernels(1);
        using var held = OutputLock.Acquire(_dir.Combine("out"));
        int tensors = 0;
        var e = Assert.Throws<OutputException>(() =>
            new MergeExecutor(kernels).Run(MergeConfigReader.Load(_config), new MergeRunOptions(_dir.Combine("out")), new Hook(_ => tensors++), CancellationToken.None));
        Assert.Contains("another process is writing this output", e.Message);
        Assert.Equal(0, tensors);
    }

    [Fact]
    public void ConcurrentTruncationOfARunningMergeNeverCrashesIt()
    {
        // A separate engine process merges while this one truncates and restores its base input as fast as it
        // can: whenever the two overlap the merge must end with the one-line error, otherwise succeed.
        var original = File.ReadAllBytes(_baseShard);
        using var stop = new CancellationTokenSource();
        var truncator = Task.Run(() =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                using var handle = File.OpenHandle(_baseShard, FileMode.Open, FileAccess.Write);
                RandomAccess.SetLength(handle, i % 2 == 0 ? 64 : original.Length);
                if (i % 2 == 1) RandomAccess.Write(handle, original, 0);
            }
        });
        EngineProcess.Result result;
        try
        {
            result = EngineProcess.Run("merge", _config, "--out", _dir.Combine("out"), "--threads", "1");
        }
        finally
        {
            stop.Cancel();
            truncator.Wait();
        }
        Assert.True(result.ExitCode is 0 or 1, $"exit {result.ExitCode}: {result.Stderr}");
        if (result.ExitCode == 0) return;
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, result.Stderr);
        Assert.Contains(_baseShard, lines[0]);
        Assert.False(Directory.Exists(_dir.Combine("out")));
    }
}
