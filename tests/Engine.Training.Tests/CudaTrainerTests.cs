using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Engine.Interop.Cuda;
using Engine.Testing;

namespace Engine.Training.Tests;

/// <summary>What of the CUDA trainer a machine without a GPU can check: its kernels compile to the committed PTX,
/// the per-op check plumbing (a CPU context checks its fp32 ops against float64), the CPU context's device
/// properties, and the one-line error of a GPU run where there is no CUDA driver.</summary>
public sealed class CudaTrainerTests
{
    private static readonly string CudaDirectory = ClangCudaCompiler.RepositoryPath("native", "cuda");

    private static readonly string[] Ops = ["embedding", "rmsnorm", "rope", "attention", "swiglu", "linear", "classifier_ce", "adamw"];

    private static IEnumerable<string> Sources => Directory.GetFiles(CudaDirectory, "*.cu").Order(StringComparer.Ordinal);

    [RequiresClangFact]
    public void EveryTrainerKernelFileCompilesAndMatchesItsCommittedPtx()
    {
        Assert.NotEmpty(Sources);
        foreach (string source in Sources)
        {
            string name = Path.GetFileNameWithoutExtension(source);
            var (exit, ptx, errors) = ClangCudaCompiler.Compile(source);
            Assert.True(exit == 0, $"{name}.cu: clang-14 failed: {errors}");
            string committed = File.ReadAllText(Path.Combine(CudaDirectory, "ptx", name + ".ptx"));
            Assert.True(committed == ptx, $"native/cuda/ptx/{name}.ptx is stale: rebuild with cmake -DENG_UPDATE_COMMITTED_PTX=ON (see native/CMakeLists.txt)");
        }
    }

    [Fact]
    public void TheCommittedPtxHoldsEveryKernelItsSourceDeclaresWithoutLibdeviceCalls()
    {
        foreach (string source in Sources)
        {
            string name = Path.GetFileNameWithoutExtension(source);
            string ptx = File.ReadAllText(Path.Combine(CudaDirectory, "ptx", name + ".ptx"));
            Assert.Contains(".target sm_80", ptx);
            var kernels = Regex.Matches(File.ReadAllText(source), @"KERNEL void (\w+)\(").Select(m => m.Groups[1].Value).ToList();
            Assert.NotEmpty(kernels);
            foreach (string kernel in kernels) Assert.Contains($".visible .entry {kernel}(", ptx);
            Assert.True(!ptx.Contains("__nv_", StringComparison.Ordinal), $"{name}.ptx calls libdevice, which a driver-only machine lacks");
        }
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(20261204UL)]
    public void EveryOpOfACpuContextPassesItsCheckAgainstFloat64(ulong seed)
    {
        using var context = ComputeContext.CreateCpu(threads: 2);
        var checks = context.CheckTrainerOps(seed);
        Assert.Equal(Ops, checks.Select(c => c.Op).ToArray());
        foreach (var c in checks)
        {
            Assert.True(c.Passed, $"{c.Op} (seed {seed}): forward {c.ForwardMaxRelError:e2}, backward {c.BackwardMaxRelError:e2} against tolerance {c.Tolerance:e2}");
            // fp32 against float64 differs, so a check that compared a path with itself would show here as 0.
            Assert.InRange(c.ForwardMaxRelError, 1e-12, c.Tolerance);
            Assert.InRange(c.BackwardMaxRelError, 1e-12, c.Tolerance);
        }
    }

    [Fact]
    public void ACpuContextHasNoGpuAndNoNativeStream()
    {
        using var context = ComputeContext.CreateCpu(threads: 1);
        Assert.False(context.IsCuda);
        Assert.Equal(0, context.DeviceOrdinal);
        Assert.Equal(IntPtr.Zero, context.NativeStream);
    }

    [Fact]
    public void ACudaContextWithoutADriverIsUnsupportedNamingWhatIsMissing()
    {
        if (CudaLibrary.Availability.IsAvailable) return; // a GPU machine: the GPU script covers CreateCuda
        var e = Assert.Throws<NativeTrainerException>(() => ComputeContext.CreateCuda(0));
        Assert.Equal("Unsupported", e.Status);
        Assert.Contains("libcuda.so.1", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void SftOnCudaWithoutADriverFailsWithOneLine()
    {
        if (CudaLibrary.Availability.IsAvailable) return;
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = LossCommandTests.WriteModel(temp, f);
        string data = temp.Combine("data.jsonl");
        File.WriteAllLines(data, [JsonSerializer.Serialize(new { input_ids = f.Tokens, labels = f.Labels })]);

        var sft = EngineProcess.Run("sft", "--device", "cuda", "--model", model, "--data", data, "--out", temp.Combine("out"), "--lr", "0.01",
            "--max-steps", "1", "--seq-len", "32");

        Assert.NotEqual(0, sft.ExitCode);
        var lines = sft.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("no CUDA driver", lines[0]);
        Assert.False(Directory.Exists(temp.Combine("out", "checkpoint-1")));
    }

    /// <summary>A driver without cuBLASLt: a stand-in libcuda.so.1 (every entry point the trainer binds, none
    /// working) on LD_LIBRARY_PATH, and ENG_CUBLASLT_PATH naming a folder without the library. The error names the
    /// library and every place searched, in the documented order.</summary>
    [Fact]
    public void ADriverWithoutCublasLtIsOneLineNamingEveryPlaceSearched()
    {
        if (CudaLibrary.Availability.IsAvailable) return; // a real driver would be found before the stand-in
        using var temp = new TempDirectory();
        string[] entryPoints = ["cuInit", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName", "cuDevicePrimaryCtxRetain",
            "cuDevicePrimaryCtxRelease_v2", "cuCtxSetCurrent", "cuStreamCreate", "cuStreamDestroy_v2", "cuStreamSynchronize", "cuMemAlloc_v2",
            "cuMemFree_v2", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoDAsync_v2", "cuMemsetD8Async", "cuModuleLoadData",
            "cuModuleUnload", "cuModuleGetFunction", "cuLaunchKernel", "cuGetErrorString", "cuEventCreate", "cuEventRecord", "cuEventSynchronize",
            "cuEventElapsedTime", "cuEventDestroy_v2"];
        File.WriteAllText(temp.Combine("cuda.c"), string.Concat(entryPoints.Select(e => $"int {e}(void) {{ return 100; }}\n")));
        var cc = EngineProcess.Run(new System.Diagnostics.ProcessStartInfo("cc", ["-shared", "-fPIC", "-o", temp.Combine("libcuda.so.1"), temp.Combine("cuda.c")]));
        Assert.True(cc.ExitCode == 0, cc.Stderr);
        Directory.CreateDirectory(temp.Combine("empty"));
        var start = EngineProcess.Start(["selftest", "--trainer", "--device", "cuda:0"]);
        start.Environment["LD_LIBRARY_PATH"] = temp.Path;
        start.Environment["ENG_CUBLASLT_PATH"] = temp.Combine("empty");

        var run = EngineProcess.Run(start);

        Assert.Equal(1, run.ExitCode);
        string line = Assert.Single(run.Stderr.Trim().Split('\n'));
        Assert.Contains("no cuBLASLt: tried " + temp.Combine("empty", "libcublasLt.so"), line);
        Assert.Contains("libcublasLt.so.13, libcublasLt.so.12", line);
        Assert.Contains("/usr/local/cuda*/lib64", line);
        Assert.Contains("/nvidia/cu13/lib/libcublasLt.so.*", line);
        Assert.Contains("/opt/*/.venv/lib/python3*/site-packages/nvidia/cublas/lib/libcublasLt.so.*", line);
    }

    [Fact]
    public void SelftestOfTheTrainerOnTheCpuReportsEveryOpAsJson()
    {
        var run = EngineProcess.Run("selftest", "--trainer", "--device", "cpu", "--seed", "5", "--json");

        Assert.True(run.ExitCode == 0, run.Stderr);
        var report = JsonNode.Parse(run.Stdout)!;
        Assert.Equal("cpu", (string)report["device"]!);
        Assert.True((bool)report["passed"]!);
        Assert.Equal(Ops, report["ops"]!.AsArray().Select(o => (string)o!["op"]!).ToArray());
    }

    [Theory]
    [InlineData("sft --device gpu --model m --data d --out o")]
    [InlineData("sft --device cuda:x --model m --data d --out o")]
    [InlineData("eval --device cuda --metric loss --model m --data d")]
    public void ABadOrUnservedDeviceIsAnError(string commandLine)
    {
        var run = EngineProcess.Run(commandLine.Split(' '));

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("--device", run.Stderr);
    }
}
