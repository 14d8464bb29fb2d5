using Engine.Interop.Nccl;
using Engine.Testing;

namespace Engine.Training.Tests;

/// <summary>Finding libnccl.so.2 with no NCCL installed: the places searched, in order, and the one-line error that
/// names each of them. The default loader is left out of the probes so that a machine with NCCL gives the same
/// result.</summary>
public sealed class NcclLibraryTests
{
    private static List<(string Place, string? Library)> WithoutDefaultLoader(IEnumerable<(string Place, string? Library)> places) =>
        places.Where(p => p.Library != NcclLibrary.FileName).ToList();

    [Fact]
    public void TheVariableComesFirstThenTheDefaultLoaderThenEveryWheelFolderOfEachSitePackages()
    {
        using var root = new TempDirectory();
        string a = Directory.CreateDirectory(Path.Combine(root.Path, "py", "python3.11", "site-packages", "nvidia", "nccl", "lib")).FullName;
        Directory.CreateDirectory(Path.Combine(root.Path, "py", "python3.12", "site-packages"));
        string library = Path.Combine(root.Path, "mine", "libnccl.so.2");
        var places = NcclLibrary.Places(library, [Path.Combine(root.Path, "py", "python3*", "site-packages"), Path.Combine(root.Path, "none", "python3*")]);

        Assert.Equal(($"{NcclLibrary.PathVariable}={library}", library), places[0]);
        Assert.Equal(("the default loader", NcclLibrary.FileName), places[1]);
        Assert.Equal((a, Path.Combine(a, NcclLibrary.FileName)), places[2]);
        Assert.EndsWith("python3.11/site-packages/nvidia/cu13/lib (no such folder)", places[3].Place);
        Assert.Null(places[3].Library);
        Assert.EndsWith("python3.12/site-packages/nvidia/nccl/lib (no such folder)", places[4].Place);
        Assert.EndsWith("python3.12/site-packages/nvidia/cu13/lib (no such folder)", places[5].Place);
        Assert.Equal(($"{Path.Combine(root.Path, "none", "python3*")} (no such folder)", null), places[6]);
        Assert.Equal(7, places.Count);
    }

    [Fact]
    public void AFolderInTheVariableMeansTheLibraryInsideIt()
    {
        using var root = new TempDirectory();
        Assert.Equal(Path.Combine(root.Path, NcclLibrary.FileName), NcclLibrary.Places(root.Path, [])[0].Library);
        Assert.Equal(($"{NcclLibrary.PathVariable} (unset)", null), NcclLibrary.Places(null, [])[0]);
    }

    [Fact]
    public void NoNcclAnywhereIsOneLineNamingEveryPlaceAndWhatWasWrongThere()
    {
        using var root = new TempDirectory();
        string wheel = Directory.CreateDirectory(Path.Combine(root.Path, "site-packages", "nvidia", "nccl", "lib")).FullName;
        File.WriteAllText(Path.Combine(wheel, NcclLibrary.FileName), "not an ELF file");
        string missing = Path.Combine(root.Path, "missing", "libnccl.so.2");
        var places = WithoutDefaultLoader(NcclLibrary.Places(missing, [Path.Combine(root.Path, "site-packages"), "/no/such/python3*/site-packages"]));

        var (handle, path, error) = NcclLibrary.Probe(places);

        Assert.Equal(0, handle);
        Assert.Equal("", path);
        Assert.DoesNotContain('\n', error);
        Assert.StartsWith("NCCL (libnccl.so.2) not found; looked in: ", error);
        Assert.Contains($"{missing} (no such file)", error);
        Assert.Contains($"{Path.Combine(wheel, NcclLibrary.FileName)} (exists but does not load)", error);
        Assert.Contains($"{Path.Combine(root.Path, "site-packages", "nvidia", "cu13", "lib")} (no such folder)", error);
        Assert.Contains("/no/such/python3*/site-packages (no such folder)", error);
        Assert.Contains("set ENG_NCCL_PATH", error);
    }

    [Fact]
    public void ALibraryWithoutNcclsEntryPointsIsNotTaken()
    {
        // Any shared library that loads will do; the C library is on every Linux machine.
        string? libc = new[] { "/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/lib64/libc.so.6", "/usr/lib64/libc.so.6" }
            .FirstOrDefault(File.Exists);
        Assert.True(libc is not null, "no libc.so.6 at the usual paths");

        var (handle, _, error) = NcclLibrary.Probe(WithoutDefaultLoader(NcclLibrary.Places(libc, [])));

        Assert.Equal(0, handle);
        Assert.Contains($"{libc} (loads but is not NCCL: no ncclCommInitRank)", error);
    }
}
