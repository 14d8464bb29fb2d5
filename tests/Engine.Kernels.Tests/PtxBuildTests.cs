using Engine.Kernels.Cuda;
using Engine.Kernels.Ilgpu;
using Engine.Kernels.Parity;
using Engine.Testing;

namespace Engine.Kernels.Tests;

/// <summary>The GPU code builds with no GPU: the CUDA C kernels compile to PTX with clang-14, the committed PTX
/// copies (used where clang-14 is missing) equal a fresh compile, and ILGPU emits PTX for every kernel.</summary>
public sealed class PtxBuildTests
{
    [RequiresClangFact]
    public void EveryCudaFileCompilesAndMatchesItsCommittedPtx()
    {
        foreach (var name in PtxImages.Names)
        {
            var (exit, ptx, errors) = ClangCuda.Compile(name);
            Assert.True(exit == 0, $"{name}.cu: clang-14 failed: {errors}");
            Assert.Contains($".entry {KernelEntry(name)}", ptx);
            string committed = File.ReadAllText(Path.Combine(ClangCuda.KernelDirectory, "ptx", name + ".ptx"));
            Assert.True(committed == ptx, $"kernels/cuda/ptx/{name}.ptx is stale: rebuild with `dotnet build src/Engine.Kernels -p:UpdateCommittedPtx=true`");
        }
    }

    [Fact]
    public void TheAssemblyEmbedsPtxForEveryKernel()
    {
        foreach (var name in PtxImages.Names)
        {
            string ptx = System.Text.Encoding.UTF8.GetString(PtxImages.Read(name));
            Assert.Contains(".target sm_80", ptx);
            Assert.Contains($".visible .entry {KernelEntry(name)}(", ptx);
        }
    }

    [Fact]
    public void TheEmbeddedPtxHoldsEveryKernelItsSourceDeclares()
    {
        foreach (var name in PtxImages.Names)
        {
            string ptx = System.Text.Encoding.UTF8.GetString(PtxImages.Read(name));
            string source = File.ReadAllText(Path.Combine(ClangCuda.KernelDirectory, name + ".cu"));
            var kernels = System.Text.RegularExpressions.Regex.Matches(source, @"KERNEL void (\w+)\(").Select(m => m.Groups[1].Value).ToList();
            Assert.NotEmpty(kernels);
            foreach (string kernel in kernels) Assert.Contains($".entry {kernel}(", ptx);
        }
    }

    [Fact]
    public void IlgpuEmitsPtxForEveryKernelWithoutAGpu()
    {
        var ptx = IlgpuMergeKernels.GeneratePtx();
        // The four Arcee Fusion kernels of IlgpuKernels, then one ILGPU twin per CUDA C element-wise kernel.
        Assert.Equal(4 + CudaElementwiseKernels().Count, ptx.Count);
        Assert.Equal(CudaElementwiseKernels().Select(PascalCase).Order(), ptx.Keys.Where(k => typeof(IlgpuElementwiseKernels).GetMethod(k) is not null).Order());
        foreach (var (name, text) in ptx)
        {
            Assert.Contains(".target sm_80", text);
            Assert.Contains(".entry", text);
            Assert.True(!text.Contains("__nv_", StringComparison.Ordinal), $"{name}: ILGPU's PTX calls libdevice, which a driver-only machine lacks");
        }
    }

    /// <summary>ptxas may fuse a plain mul.f32 with the add it feeds into one FMA, which changed the last bits of the
    /// element-wise merges on an H200 (the CPU reference rounds every product). The kernels that must equal it bit
    /// for bit multiply and add with explicit rounding (<c>IlgpuMath.MulRn</c> / <c>AddRn</c>).</summary>
    [Fact]
    public void IlgpuBitExactKernelsRoundEveryProductAndSumExplicitly()
    {
        var ptx = IlgpuMergeKernels.GeneratePtx();
        // Every rounded kernel of the self-test (segmented_linear_combination runs as linear_combination), and
        // pair_sums' two kernels, whose (v0 - v1)^2 must not fuse either.
        var kernels = ElementwiseSelfTest.RoundedKernels.Where(k => k != "segmented_linear_combination").Select(PascalCase).Concat(["PairSumsRuns", "PairSumsColumns"]).ToList();
        Assert.Contains("AmplifiedCountedAverage", kernels);
        foreach (string kernel in kernels)
        {
            Assert.True(ptx.ContainsKey(kernel), $"no ILGPU kernel {kernel}");
            Assert.Matches(@"\b(mul|add)\.rn\.f(32|64)\b", ptx[kernel]);
            Assert.True(!System.Text.RegularExpressions.Regex.IsMatch(ptx[kernel], @"\bfma\."), $"{kernel}: ILGPU's PTX fuses a multiply-add");
        }
    }

    /// <summary>The kernels of <c>kernels/cuda/elementwise.cu</c>, without the <c>_kernel</c> suffix.</summary>
    private static List<string> CudaElementwiseKernels() =>
        System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(Path.Combine(ClangCuda.KernelDirectory, "elementwise.cu")), @"KERNEL void (\w+)_kernel\(")
            .Select(m => m.Groups[1].Value).ToList();

    private static string PascalCase(string snake) => string.Concat(snake.Split('_').Select(part => char.ToUpperInvariant(part[0]) + part[1..]));

    private static string KernelEntry(string file) => file switch
    {
        "radix_select" => "radix_histogram_kernel",
        "elementwise" => "task_arithmetic_kernel",
        _ => file + "_kernel",
    };
}
