namespace Engine.Kernels;

/// <summary>The kernel backends one run spreads its tensors over: one per GPU (several when the machine has
/// several and <c>--device</c> names them all), or the single CPU backend. Owns and disposes them.</summary>
public sealed class KernelDevices : IDisposable
{
    private readonly IMergeKernels[] _devices;

    public KernelDevices(IReadOnlyList<IMergeKernels> devices)
    {
        ArgumentOutOfRangeException.ThrowIfZero(devices.Count);
        _devices = devices.ToArray();
    }

    public IReadOnlyList<IMergeKernels> Devices => _devices;

    public int Count => _devices.Length;

    public void Dispose()
    {
        foreach (var d in _devices) d.Dispose();
    }
}
