using Engine.Fuzz;

namespace Engine.Training.Tests;

/// <summary>Replays the committed fuzzing corpus (tests/fuzz-corpus: seeds, and every input that once crashed a
/// parser) through the fuzz targets: each input must be accepted or refused with an EngineException. CI runs this,
/// never the fuzzer (docs/fuzzing.md).</summary>
public sealed class FuzzCorpusReplayTests
{
    public static TheoryData<string> Targets => new(FuzzTargets.Names);

    [Theory]
    [MemberData(nameof(Targets))]
    public void EveryCorpusInputEndsCleanly(string target)
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "fuzz-corpus", target);
        var inputs = Directory.GetFiles(dir).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(inputs);
        using var targets = new FuzzTargets();
        foreach (var input in inputs)
        {
            var escaped = Record.Exception(() => targets.Run(target, File.ReadAllBytes(input)));
            Assert.True(escaped == null, $"{Path.GetFileName(input)}: {escaped?.GetType().Name}: {escaped?.Message}");
        }
    }
}
