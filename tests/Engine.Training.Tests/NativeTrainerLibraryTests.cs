using Engine.Interop.Trainer;

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

    [Fact]
    public void ALocalBuildLoadsItsOneLibraryThroughTheResolver()
    {
        using var context = ComputeContext.CreateCpu(threads: 1);
        // The test output holds only the local (native-flag) build: auto finds no v3 file and loads it.
        Assert.Equal(NativeTrainerLibrary.BaselineName, NativeTrainerLibrary.LoadedName);
    }
}
