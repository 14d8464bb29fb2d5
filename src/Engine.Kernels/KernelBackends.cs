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
    public static readonly IReadOnlyList<string> Choices = ["auto", "cpu", "cuda[:N[,M...]]", "ilgpu[:N[,M...]]", "ilgpu-cpu"];

    /// <summary>The <c>--device</c> option's help text.</summary>
    public const string Description =
        "auto | cpu | cuda[:N[,M...]] | ilgpu[:N[,M...]] | ilgpu-cpu (auto: every CUDA GPU when a driver and GPU are present, else cpu; " +
        "a merge spreads its tensors over the GPUs named, or over all of them when none is named; ilgpu-cpu is ILGPU's slow simulator, for tests)";

    /// <summary><c>auto</c>: hand-written CUDA kernels on GPU 0 when a driver and a GPU are present, else the
    /// vectorised CPU backend; <c>cpu</c>; <c>cuda[:N]</c>: hand-written CUDA kernels on GPU N;
    /// <c>ilgpu[:N]</c>: the ILGPU kernels on GPU N; <c>ilgpu-cpu</c>: the ILGPU kernels on ILGPU's CPU
    /// simulator. The backend's <see cref="IMergeKernels.Device"/> names what was used. One device only: a list
    /// of GPUs is an error here (merges take lists through <see cref="CreateDevices"/>).</summary>
    /// <exception cref="EngineException">an unknown value, or a GPU backend where none can run.</exception>
    public static IMergeKernels Create(string device, int threads)
    {
        string value = device.Trim().ToLowerInvariant();
        var (kind, ordinals) = Parse(value, device);
        if (ordinals.Length > 1) throw new EngineException($"--device {value}: this command runs on one device; name one GPU (e.g. {kind}:{ordinals[0]})");
        return Create(kind, ordinals.Length == 0 ? 0 : ordinals[0], value, device, threads);
    }

    /// <summary>The backends a merge spreads its tensors over: <c>cuda</c>, <c>ilgpu</c> and (with a GPU)
    /// <c>auto</c> without an ordinal give one backend per GPU of the machine; <c>cuda:0,2</c> the GPUs listed;
    /// <c>cpu</c> and <c>ilgpu-cpu</c> a single backend.</summary>
    /// <exception cref="EngineException">as <see cref="Create(string, int)"/>, or a GPU listed twice.</exception>
    public static KernelDevices CreateDevices(string device, int threads)
    {
        string value = device.Trim().ToLowerInvariant();
        var (kind, ordinals) = Parse(value, device);
        if (ordinals.Length == 0 && kind is "cuda" or "ilgpu" or "auto" && CudaLibrary.Availability is { IsAvailable: true, DeviceCount: > 1 } cuda)
            ordinals = Enumerable.Range(0, cuda.DeviceCount).ToArray();
        if (ordinals.Distinct().Count() != ordinals.Length) throw new EngineException($"--device {value}: a GPU is listed twice");
        var created = new List<IMergeKernels>();
        try
        {
            foreach (int ordinal in ordinals.Length == 0 ? [0] : ordinals) created.Add(Create(kind, ordinal, value, device, threads));
            return new KernelDevices(created);
        }
        catch
        {
            foreach (var k in created) k.Dispose();
            throw;
        }
    }

    private static IMergeKernels Create(string kind, int ordinal, string value, string device, int threads)
    {
        try
        {
            return kind switch
            {
                "cpu" => new CpuMergeKernels(threads),
                "auto" => CudaLibrary.Availability.IsAvailable ? new CudaMergeKernels(ordinal, threads) : new CpuMergeKernels(threads),
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

    /// <summary>The backend kind and the GPU ordinals named (none: not named).</summary>
    private static (string Kind, int[] Ordinals) Parse(string value, string original)
    {
        int colon = value.IndexOf(':');
        if (colon < 0) return (value, []);
        string kind = value[..colon];
        var parts = value[(colon + 1)..].Split(',');
        var ordinals = new int[parts.Length];
        bool ok = kind is "cuda" or "ilgpu";
        for (int i = 0; ok && i < parts.Length; i++) ok = int.TryParse(parts[i], out ordinals[i]) && ordinals[i] >= 0;
        if (ok) return (kind, ordinals);
        throw new EngineException($"--device '{original}' is not available here; choose one of: {string.Join(", ", Choices)}");
    }
}
