using Engine.Core;
using Engine.Core.Model;
using Engine.Testing;
using EngineCliExit = Engine.Cli.EngineCli;

namespace Engine.Merge.Tests;

/// <summary><c>engine merge</c> on bad input: one line on stderr naming the problem, a non-zero exit code,
/// nothing at the output path, inputs untouched.</summary>
public sealed class MergeCommandErrorTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public MergeCommandErrorTests()
    {
        TestModels.Write(_dir.Combine("b"), DType.F32, [("w", [2, 3], [1, 2, 3, 4, 5, 6]), ("v", [3], [1, 2, 3])]);
        TestModels.Write(_dir.Combine("p"), DType.F32, [("w", [2, 3], [1, 2, 4, 4, 5, 7]), ("v", [3], [1, 2, 3])]);
    }

    public void Dispose() => _dir.Dispose();

    private (EngineProcess.Result Result, string Output) Run(string yaml, params string[] extra)
    {
        string config = _dir.Combine("c.yml");
        File.WriteAllText(config, yaml);
        string output = _dir.Combine("out");
        var before = SnapshotInputs();
        var result = EngineProcess.Run(["merge", config, "--out", output, .. extra]);
        Assert.Equal(before, SnapshotInputs());
        return (result, output);
    }

    private string SnapshotInputs() => string.Join(";", new[] { "b", "p" }.SelectMany(m => Directory.GetFiles(_dir.Combine(m)).Order())
        .Select(f => $"{f}:{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)))}"));

    private string Fusion(string other = "p", string extra = "") => $"merge_method: arcee_fusion\nbase_model: {_dir.Combine("b")}\nmodels:\n  - model: {_dir.Combine(other)}\n{extra}";

    private static void AssertOneLineError(EngineProcess.Result result, string fragment)
    {
        Assert.NotEqual(0, result.ExitCode);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one stderr line, got:\n{result.Stderr}");
        Assert.Contains(fragment, lines[0]);
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Fact]
    public void MissingModel()
    {
        var (result, output) = Run(Fusion(other: "nope"));
        AssertOneLineError(result, "not found");
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void MissingTensor()
    {
        TestModels.Write(_dir.Combine("q"), DType.F32, [("w", [2, 3], [1, 2, 3, 4, 5, 6])]);
        var (result, output) = Run(Fusion(other: "q"));
        AssertOneLineError(result, "no tensor 'v'");
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void ShapeMismatchNamesTensorAndBothShapes()
    {
        TestModels.Write(_dir.Combine("q"), DType.F32, [("w", [3, 2], [1, 2, 3, 4, 5, 6]), ("v", [3], [1, 2, 3])]);
        var (result, output) = Run(Fusion(other: "q"));
        AssertOneLineError(result, "tensor 'w': shape [2, 3]");
        Assert.Contains("[3, 2]", result.Stderr);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void NaNInAWeightNamesTheTensor()
    {
        TestModels.Write(_dir.Combine("q"), DType.F32, [("w", [2, 3], [1, 2, float.NaN, 4, 5, 6]), ("v", [3], [1, 2, 3])]);
        var (result, output) = Run(Fusion(other: "q"));
        AssertOneLineError(result, "tensor 'w'");
        Assert.Contains("NaN", result.Stderr);
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData("linear", "parameters:\n  weight: 1.0\n")]
    [InlineData("ties", "parameters:\n  weight: 1.0\n  density: 0.5\n")]
    [InlineData("slerp", "parameters:\n  t: 0.5\n")]
    public void InfinityInAWeightNamesTheTensorForEveryMethod(string method, string parameters)
    {
        TestModels.Write(_dir.Combine("q"), DType.BF16, [("w", [2, 3], [1, 2, 3, 4, float.PositiveInfinity, 6]), ("v", [3], [1, 2, 3])]);
        var (result, output) = Run(Fusion(other: "q", extra: parameters).Replace("arcee_fusion", method));
        AssertOneLineError(result, "tensor 'w' of model");
        Assert.Contains("element 4", result.Stderr);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void ExistingOutputNeedsOverwrite()
    {
        Directory.CreateDirectory(_dir.Combine("out"));
        File.WriteAllText(_dir.Combine("out", "keep.txt"), "mine");
        var (result, output) = Run(Fusion());
        AssertOneLineError(result, "--overwrite");
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "keep.txt")));

        var (ok, _) = Run(Fusion(), "--overwrite");
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        Assert.False(File.Exists(Path.Combine(output, "keep.txt")));
        using var model = ModelDirectory.Open(output);
        Assert.Equal(2, model.Tensors.Count);
    }

    [Fact]
    public void UnknownMethodListsTheSupportedOnes()
    {
        var (result, output) = Run(Fusion().Replace("arcee_fusion", "frankenmerge"));
        AssertOneLineError(result, "unknown merge_method 'frankenmerge'; supported: ");
        Assert.Contains("arcee_fusion", result.Stderr);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void InvalidYamlAndUnknownKeys()
    {
        var (bad, _) = Run("merge_method: [arcee_fusion\n");
        AssertOneLineError(bad, "invalid YAML");

        var (warned, output) = Run(Fusion(extra: "frobnicate: 3\n"));
        Assert.True(warned.ExitCode == 0, warned.Stderr);
        Assert.Contains("unknown key 'frobnicate'", warned.Stderr);
        Assert.True(Directory.Exists(output));
    }

    [Fact]
    public void OutputInsideAnInputIsRefused()
    {
        string config = _dir.Combine("c.yml");
        File.WriteAllText(config, Fusion());
        var result = EngineProcess.Run("merge", config, "--out", _dir.Combine("b"), "--overwrite");
        AssertOneLineError(result, "overlaps input model");
        using var model = ModelDirectory.Open(_dir.Combine("b"));
        Assert.Equal(2, model.Tensors.Count);
    }

    [Theory]
    [InlineData("lambda: NaN")]
    [InlineData("lambda: 1e400")]
    public void NonFiniteLambdaIsAOneLineConfigError(string parameter)
    {
        var (result, output) = Run(Fusion(extra: $"parameters:\n  {parameter}\n"));
        AssertOneLineError(result, "'lambda' is");
        Assert.Equal(EngineCliExit.ExitInputError, result.ExitCode);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void NaNWeightAsAPlainScalarIsRefused()
    {
        var (result, output) = Run(Fusion(extra: "parameters:\n  weight: nan\n").Replace("arcee_fusion", "linear"));
        AssertOneLineError(result, "'weight' is 'nan'");
        Assert.Contains("c.yml", result.Stderr);
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/..")]
    public void TheRootIsNeverAnOutput(string root)
    {
        string config = _dir.Combine("c.yml");
        File.WriteAllText(config, Fusion());
        var result = EngineProcess.Run("merge", config, "--out", root, "--overwrite");
        AssertOneLineError(result, "root of the file system");
        Assert.Equal(EngineCliExit.ExitInputError, result.ExitCode);
    }

    [Theory]
    [InlineData("Infinity GB")]
    [InlineData("1e30GB")]
    [InlineData("NaN")]
    public void AbsurdShardSizesAreRefused(string size)
    {
        var (result, _) = Run(Fusion(), "--out-shard-size", size);
        AssertOneLineError(result, "--out-shard-size");
        Assert.Equal(EngineCliExit.ExitInputError, result.ExitCode);
    }

    [Fact]
    public void ASecondMergeIntoAHeldOutputFailsAtOnce()
    {
        using var held = OutputLock.Acquire(_dir.Combine("out"));
        var (result, output) = Run(Fusion());
        AssertOneLineError(result, "another process is writing this output");
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void InvalidUtf8InTheConfigNamesLineAndByte()
    {
        string config = _dir.Combine("c.yml");
        File.WriteAllBytes(config, [.. System.Text.Encoding.UTF8.GetBytes(Fusion()), .. "# caf"u8.ToArray(), 0xE9, (byte)'\n']);
        var result = EngineProcess.Run("merge", config, "--out", _dir.Combine("out"));
        AssertOneLineError(result, "invalid UTF-8 (byte 0xE9)");
        Assert.Contains("line 5", result.Stderr);
    }

    [Fact]
    public void FullDiskFailsCleanly()
    {
        // A 64 KiB tmpfs stands in for a full disk; it needs root (as on CI). Elsewhere there is nothing to test.
        string mount = _dir.Combine("small");
        Directory.CreateDirectory(mount);
        var mounted = System.Diagnostics.Process.Start("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mount]);
        mounted.WaitForExit();
        if (mounted.ExitCode != 0) return;
        try
        {
            var random = new Random(1);
            TestModels.Write(_dir.Combine("big-b"), DType.F32, [("w", [200, 100], TestModels.RandomValues(random, 20000))]);
            TestModels.Write(_dir.Combine("big-p"), DType.F32, [("w", [200, 100], TestModels.RandomValues(random, 20000))]);
            string config = _dir.Combine("big.yml");
            File.WriteAllText(config, $"merge_method: arcee_fusion\nbase_model: {_dir.Combine("big-b")}\nmodels:\n  - model: {_dir.Combine("big-p")}\n");
            var result = EngineProcess.Run("merge", config, "--out", Path.Combine(mount, "out"));
            AssertOneLineError(result, "disk was full");
            Assert.Empty(Directory.GetFileSystemEntries(mount));
        }
        finally
        {
            System.Diagnostics.Process.Start("umount", [mount]).WaitForExit();
        }
    }
}
