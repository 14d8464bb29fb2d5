using Engine.Core;
using Engine.Interop.Cuda;
using Engine.Kernels.Cpu;
using Engine.Kernels.Cuda;
using Engine.Kernels.Ilgpu;

namespace Engine.Kernels;

/// <summary>Creates the kernel backend a <c>--device</c> value names.</summary>
public static class KernelBackends
{
    /// <summary>The <c>--device</c> values understood.</summary>
    public static readonly IReadOnlyList<string> Choices = ["auto", "cpu", "cuda[:N]", "ilgpu[:N]", "ilgpu-cpu"];

    /// <summary>The <c>--device</c> option's help text.</summary>
    public const string Description =
        "auto | cpu | cuda[:N] | ilgpu[:N] | ilgpu-cpu (auto: CUDA GPU 0 when a driver and GPU are present, else cpu; ilgpu-cpu is ILGPU's slow simulator, for tests)";

    /// <summary><c>auto</c>: hand-written CUDA kernels on GPU 0 when a driver and a GPU are present, else the
    /// vectorised CPU backend; <c>cpu</c>; <c>cuda[:N]</c>: hand-written CUDA kernels on GPU N;
    /// <c>ilgpu[:N]</c>: the ILGPU kernels on GPU N; <c>ilgpu-cpu</c>: the ILGPU kernels on ILGPU's CPU
    /// simulator. The backend's <see cref="IMergeKernels.Device"/> names what was used.</summary>
    /// <exception cref="EngineException">an unknown value, or a GPU backend where none can run.</exception>
    public static IMergeKernels Create(string device, int threads)
    {
        string value = device.Trim().ToLowerInvariant();
        var (kind, ordinal) = Parse(value, device);
        try
        {
            return kind switch
            {
                "cpu" => new CpuMergeKernels(threads),
                "auto" => CudaLibrary.Availability.IsAvailable ? new CudaMergeKernels(0, threads) : new CpuMergeKernels(threads),
                "cuda" => CudaLibrary.Availability is { IsAvailable: false } a
                    ? throw new EngineException($"--device {value}: CUDA is not available here ({a.Reason}); use --device cpu")
                    : new CudaMergeKernels(ordinal, threads),
                "ilgpu" => IlgpuMergeKernels.CreateCuda(ordinal, threads),
                "ilgpu-cpu" => IlgpuMergeKernels.CreateCpuAccelerator(threads),
                _ => throw new EngineException($"--device '{device}' is not available here; choose one of: {string.Join(", ", Choices)}"),
            };
        }
        catch (CudaException e)
        {
            throw new EngineException($"--device {value}: {e.Message}");
        }
    }

    /// <summary>The devices this machine can run, in the order selftest and bench visit them.</summary>
    public static IReadOnlyList<string> Available(bool includeSimulator)
    {
        var list = new List<string> { "cpu" };
        if (CudaLibrary.Availability.IsAvailable)
        {
            list.Add("cuda:0");
            list.Add("ilgpu:0");
        }
        if (includeSimulator) list.Add("ilgpu-cpu");
        return list;
    }

    private static (string Kind, int Ordinal) Parse(string value, string original)
    {
        int colon = value.IndexOf(':');
        if (colon < 0) return (value, 0);
        string kind = value[..colon];
        if ((kind is "cuda" or "ilgpu") && int.TryParse(value[(colon + 1)..], out int ordinal) && ordinal >= 0) return (kind, ordinal);
        throw new EngineException($"--device '{original}' is not available here; choose one of: {string.Join(", ", Choices)}");
    }
}
