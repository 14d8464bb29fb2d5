using Engine.Cli;
using Engine.Interop.Trainer;
using Engine.Testing;

namespace Engine.Training.Tests;

/// <summary>The choice between the packaged x86-64-v3 and baseline trainer libraries (the packages themselves are
/// checked by .ci/package-check, which loads each build from an installed package).</summary>
public sealed class NativeTrainerLibraryTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("auto")]
    [InlineData(" AUTO ")]
    public void AutoPrefersV3WhereTheCpuHasItAndFallsBackToTheBaseline(string? requested)
    {
        Assert.Equal([NativeTrainerLibrary.V3Name, NativeTrainerLibrary.BaselineName], NativeTrainerLibrary.Candidates(requested, cpuSupportsV3: true));
        Assert.Equal([NativeTrainerLibrary.BaselineName], NativeTrainerLibrary.Candidates(requested, cpuSupportsV3: false));
    }

    [Theory]
    [InlineData("baseline")]
    [InlineData("x86-64")]
    public void BaselineIsTheOnlyCandidateWhenAskedFor(string requested)
    {
        Assert.Equal([NativeTrainerLibrary.BaselineName], NativeTrainerLibrary.Candidates(requested, cpuSupportsV3: true));
        Assert.Equal([NativeTrainerLibrary.BaselineName], NativeTrainerLibrary.Candidates(requested, cpuSupportsV3: false));
    }

    [Fact]
    public void V3IsRefusedOnACpuWithoutIt()
    {
        Assert.Equal([NativeTrainerLibrary.V3Name], NativeTrainerLibrary.Candidates("v3", cpuSupportsV3: true));
        var e = Assert.Throws<ArgumentException>(() => NativeTrainerLibrary.Candidates("v3", cpuSupportsV3: false));
        Assert.Contains("ENG_NATIVE_ISA=v3: this CPU lacks x86-64-v3", e.Message);
    }

    [Fact]
    public void AnUnknownValueNamesTheVariable()
    {
        var e = Assert.Throws<ArgumentException>(() => NativeTrainerLibrary.Candidates("avx512", cpuSupportsV3: true));
        Assert.Equal("ENG_NATIVE_ISA=avx512: expected auto, baseline or v3", e.Message);
    }

    [Theory]
    [InlineData("avx512", "ENG_NATIVE_ISA=avx512: expected auto, baseline or v3")]
    [InlineData("v3", "ENG_NATIVE_ISA=v3")]
    public void ABadChoiceInTheEnvironmentIsAOneLineInputErrorOfTheCli(string value, string expected)
    {
        // A local build has no v3 library: asking for it fails as a missing library (or, on an older CPU, as refused).
        var start = EngineProcess.Start(["selftest", "--trainer"]);
        start.Environment[NativeTrainerLibrary.VariantVariable] = value;
        var result = EngineProcess.Run(start);
        Assert.Equal(EngineCli.ExitInputError, result.ExitCode);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("engine: error: ", line);
        Assert.Contains(expected, line);
    }

    [Fact]
    public void ALocalBuildLoadsItsOneLibraryThroughTheResolver()
    {
        using var context = ComputeContext.CreateCpu(threads: 1);
        // The test output holds only the local (native-flag) build: auto finds no v3 file and loads it.
        Assert.Equal(NativeTrainerLibrary.BaselineName, NativeTrainerLibrary.LoadedName);
    }
}
