using Engine.Core;
using Engine.Kernels.Cpu;

namespace Engine.Kernels;

/// <summary>Creates the kernel backend a <c>--device</c> value names.</summary>
public static class KernelBackends
{
    /// <summary>The <c>--device</c> values understood.</summary>
    public static readonly IReadOnlyList<string> Choices = ["auto", "cpu"];

    /// <summary><c>auto</c> picks the best available backend; <c>cpu</c> the vectorised CPU one.</summary>
    public static IMergeKernels Create(string device, int threads)
    {
        switch (device.Trim().ToLowerInvariant())
        {
            case "auto":
            case "cpu":
                return new CpuMergeKernels(threads);
            default:
                throw new EngineException($"--device '{device}' is not available here; choose one of: {string.Join(", ", Choices)}");
        }
    }
}
