using Engine.Interop.Cuda;
using Engine.Testing;

namespace Engine.Training.Tests;

/// <summary>What a GPU job under a launcher checks before it touches a GPU, on a machine without one: a stand-in
/// <c>libcuda.so.1</c> that reports one GPU (cuInit, cuDriverGetVersion and cuDeviceGetCount succeed, nothing else
/// works) gets past the driver probe, so the checks after it show: NCCL missing is one line naming every place
/// searched; two ranks on a machine with one GPU are refused before NCCL (each rank needs its own GPU).</summary>
public sealed class GpuDataParallelRefusalTests
{
    [Fact]
    public void OneRankUnderALauncherWithoutNcclIsOneLineNamingWherePlacesWereSearched()
    {
        if (CudaLibrary.Availability.IsAvailable) return; // a real driver would be found before the stand-in
        using var temp = new TempDirectory();
        var (model, data) = DataParallelFixture.Write(temp);
        var start = EngineProcess.Start(DataParallelFixture.Sft(model, data, temp.Combine("out"), "--device", "cuda"));
        start.Environment["LD_LIBRARY_PATH"] = StandInDriver(temp);
        start.Environment["OMPI_COMM_WORLD_SIZE"] = "1";  // what mpirun -np 1 sets
        Directory.CreateDirectory(temp.Combine("no-nccl"));
        start.Environment["ENG_NCCL_PATH"] = temp.Combine("no-nccl");

        var run = EngineProcess.Run(start);

        // A machine with NCCL installed finds it past ENG_NCCL_PATH: nothing to check there.
        if (Engine.Interop.Nccl.NcclLibrary.Probe(Engine.Interop.Nccl.NcclLibrary.Places(temp.Combine("no-nccl"), Engine.Interop.Nccl.NcclLibrary.PythonPackageFolders)).Handle != 0) return;
        Assert.Equal(1, run.ExitCode);
        string line = Assert.Single(run.Stderr.Trim().Split('\n'));
        Assert.Contains("sft: --device cuda:0 under a launcher (1 rank(s)) sums gradients over NCCL, but NCCL (libnccl.so.2) not found", line);
        Assert.Contains($"{temp.Combine("no-nccl", "libnccl.so.2")} (no such file)", line);
        Assert.Contains("the default loader", line);
        Assert.False(Directory.Exists(temp.Combine("out", "checkpoint-1")));
    }

    [RequiresMpiFact]
    public void TwoRanksOnAMachineWithOneGpuAreRefusedByName()
    {
        if (CudaLibrary.Availability.IsAvailable) return;
        using var temp = new TempDirectory();
        var (model, data) = DataParallelFixture.Write(temp);

        var run = MpiProcess.RunWith(new Dictionary<string, string> { ["LD_LIBRARY_PATH"] = StandInDriver(temp) }, 2,
            DataParallelFixture.Sft(model, data, temp.Combine("out"), "--device", "cuda"));

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("2 ranks on", run.Stderr);
        Assert.Contains("but it shows 1 GPU(s); each rank needs its own GPU", run.Stderr);
        Assert.False(Directory.Exists(temp.Combine("out", "checkpoint-1")));
    }

    /// <summary>Builds the stand-in driver in <paramref name="temp"/> and returns its folder.</summary>
    private static string StandInDriver(TempDirectory temp)
    {
        string folder = temp.Combine("driver");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "cuda.c"), """
            int cuInit(unsigned flags) { return 0; }
            int cuDriverGetVersion(int* version) { *version = 13000; return 0; }
            int cuDeviceGetCount(int* count) { *count = 1; return 0; }
            int cuGetErrorString(int error, const char** text) { *text = "stand-in driver"; return 0; }
            """);
        var cc = EngineProcess.Run(new System.Diagnostics.ProcessStartInfo("cc", ["-shared", "-fPIC", "-o", Path.Combine(folder, "libcuda.so.1"), Path.Combine(folder, "cuda.c")]));
        Assert.True(cc.ExitCode == 0, cc.Stderr);
        return folder;
    }
}
