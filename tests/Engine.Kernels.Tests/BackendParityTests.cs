using Engine.Core;
using Engine.Interop.Cuda;
using Engine.Kernels.Cuda;
using Engine.Kernels.Ilgpu;
using Engine.Kernels.Parity;

namespace Engine.Kernels.Tests;

/// <summary>Every kernel of every backend against the CPU reference (the same cases as <c>engine selftest</c>):
/// ILGPU's CPU accelerator always (small inputs: it is a simulator), the GPU backends where a GPU exists.</summary>
public sealed class BackendParityTests
{
    [Fact]
    public void IlgpuCpuAcceleratorMatchesTheCpuReference()
    {
        using var backend = IlgpuMergeKernels.CreateCpuAccelerator(threads: 2);
        AssertAllPass(new KernelSelfTest(seed: 20261123, small: true).Run(backend, threads: 2));
    }

    [RequiresCudaFact]
    public void CudaBackendMatchesTheCpuReference()
    {
        using var backend = new CudaMergeKernels(0);
        AssertAllPass(new KernelSelfTest(seed: 7, small: false).Run(backend));
    }

    [RequiresCudaFact]
    public void IlgpuOnTheGpuMatchesTheCpuReference()
    {
        using var backend = IlgpuMergeKernels.CreateCuda(0);
        AssertAllPass(new KernelSelfTest(seed: 8, small: false).Run(backend));
    }

    private static void AssertAllPass(IReadOnlyList<SelfTestResult> results)
    {
        var failed = results.Where(r => !r.Passed).Select(r => $"{r.Kernel} [{r.Case}]: {r.Detail}").ToList();
        Assert.True(failed.Count == 0, string.Join("\n", failed));
        Assert.True(results.Count > 30);
    }
}

/// <summary>The <c>--device</c> values.</summary>
public sealed class KernelBackendsTests
{
    [Fact]
    public void CpuAndAutoWork()
    {
        using var cpu = KernelBackends.Create("cpu", 2);
        Assert.StartsWith("cpu", cpu.Device);
        using var auto = KernelBackends.Create(" AUTO ", 2);
        Assert.StartsWith(CudaLibrary.Availability.IsAvailable ? "cuda:0" : "cpu", auto.Device);
    }

    [Fact]
    public void CudaWithoutAGpuSaysWhy()
    {
        if (CudaLibrary.Availability.IsAvailable) return;  // exercised by the GPU tests instead
        var e = Assert.Throws<EngineException>(() => KernelBackends.Create("cuda:0", 1));
        Assert.Contains("not available", e.Message);
        Assert.Throws<EngineException>(() => KernelBackends.Create("ilgpu", 1));
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:x")]
    [InlineData("cuda:-1")]
    [InlineData("cpu:1")]
    public void UnknownValuesAreInputErrors(string device)
    {
        var e = Assert.Throws<EngineException>(() => KernelBackends.Create(device, 1));
        Assert.Contains("choose one of", e.Message);
    }

    [Fact]
    public void ProbingTheDriverNeverThrows()
    {
        var availability = CudaLibrary.Availability;
        Assert.False(string.IsNullOrEmpty(availability.Reason));
    }
}
