namespace Engine.Kernels;

/// <summary>The kernel backends one run spreads its tensors over: one per GPU (several when the machine has
/// several and <c>--device</c> names them all), or the single CPU backend. Owns and disposes them.</summary>
public sealed class KernelDevices : IDisposable
{
    private readonly IMergeKernels[] _devices;

    /// <summary>Takes ownership of <paramref name="devices"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="devices"/> is empty.</exception>
    public KernelDevices(IReadOnlyList<IMergeKernels> devices)
    {
        ArgumentOutOfRangeException.ThrowIfZero(devices.Count);
        _devices = devices.ToArray();
    }

    /// <summary>The backends, in device order.</summary>
    public IReadOnlyList<IMergeKernels> Devices => _devices;

    /// <summary>Backends.</summary>
    public int Count => _devices.Length;

    /// <summary>Disposes every backend.</summary>
    public void Dispose()
    {
        foreach (var d in _devices) d.Dispose();
    }
}
