using Engine.Core;
using Engine.Kernels;
using Microsoft.Extensions.Options;

namespace Engine.Merge;

/// <summary>Makes kernel backends for a device name.</summary>
public interface IMergeKernelsFactory
{
    /// <summary>One backend (benchmarks, tools that drive one device).</summary>
    IMergeKernels Create(string? device = null, int? threads = null);

    /// <summary>The backends a merge spreads its tensors over (every GPU named, or all of them).</summary>
    KernelDevices CreateDevices(string? device = null, int? threads = null);
}

internal sealed class MergeKernelsFactory(IOptions<EngineOptions> options) : IMergeKernelsFactory
{
    public IMergeKernels Create(string? device = null, int? threads = null) =>
        KernelBackends.Create(device ?? options.Value.Device, threads ?? options.Value.Threads);

    public KernelDevices CreateDevices(string? device = null, int? threads = null) =>
        KernelBackends.CreateDevices(device ?? options.Value.Device, threads ?? options.Value.Threads);
}
