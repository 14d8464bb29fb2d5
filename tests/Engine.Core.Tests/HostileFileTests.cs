using Engine.Core.Model;
using Engine.Core.Safetensors;
using Engine.Testing;

namespace Engine.Core.Tests;

/// <summary>The committed attack files in <c>tests/fixtures/hostile</c> (written by its <c>generate.py</c>):
/// each must fail validation with a <see cref="SafetensorsFormatException"/> naming the file and the problem
/// listed in <c>manifest.tsv</c>, and <c>engine inspect</c> must report it as one line on stderr.</summary>
public sealed class HostileFileTests
{
    public static IReadOnlyList<(string File, string Fragment)> Manifest() =>
        File.ReadAllLines(Fixtures.Path("hostile", "manifest.tsv"))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split('\t', 2))
            .Select(p => (p[0], p[1]))
            .ToList();

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var (file, fragment) in Manifest()) data.Add(file, fragment);
        return data;
    }

    [Fact]
    public void ManifestAndFolderListTheSameFiles()
    {
        var listed = Manifest().Select(m => m.File).Order(StringComparer.Ordinal).ToList();
        var present = Directory.GetFiles(Fixtures.Path("hostile"), "*.safetensors").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(present, listed!);
        Assert.True(listed.Count >= 30, $"only {listed.Count} hostile files");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void OpeningRaisesFormatErrorNamingFileAndProblem(string file, string fragment)
    {
        string path = Fixtures.Path("hostile", file);
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(path, e.FilePath);
        Assert.StartsWith($"{path}: invalid safetensors file: ", e.Message);
        Assert.Contains(fragment, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ModelDirectoryRejectsTheFileAsADirectoryShard(string file, string fragment)
    {
        using var dir = new TempDirectory();
        File.Copy(Fixtures.Path("hostile", file), dir.Combine("model.safetensors"));
        var e = Assert.Throws<SafetensorsFormatException>(() => ModelDirectory.Open(dir.Path).Dispose());
        Assert.Contains(dir.Combine("model.safetensors"), e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public async Task InspectPrintsOneLineOnStderrAndFailsForEveryFile()
    {
        var manifest = Manifest();
        var results = new EngineProcess.Result[manifest.Count];
        // Two at a time: each run is a process start, and the machine has few cores.
        await Parallel.ForAsync(0, manifest.Count, new ParallelOptions { MaxDegreeOfParallelism = 2 }, (i, _) =>
        {
            results[i] = EngineProcess.Run("inspect", Fixtures.Path("hostile", manifest[i].File));
            return ValueTask.CompletedTask;
        });
        for (int i = 0; i < manifest.Count; i++)
        {
            var (file, fragment) = manifest[i];
            var r = results[i];
            var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(r.ExitCode == 1, $"{file}: exit code {r.ExitCode}, stderr: {r.Stderr}");
            Assert.True(lines.Length == 1, $"{file}: expected one stderr line, got:\n{r.Stderr}");
            Assert.StartsWith("engine: error: ", lines[0]);
            Assert.Contains(file, lines[0]);
            Assert.Contains(fragment, lines[0]);
            Assert.DoesNotContain("   at ", r.Stderr);
            Assert.DoesNotContain("Exception", r.Stderr);
            Assert.Equal("", r.Stdout);
        }
    }

    [Fact]
    public void InspectOfAMissingPathFailsWithOneLine()
    {
        using var dir = new TempDirectory();
        var r = EngineProcess.Run("inspect", dir.Combine("nothing-here"));
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"engine: error: {dir.Combine("nothing-here")}: no such model directory or file", r.Stderr.TrimEnd());
    }
}
