using Engine.Core.Numerics;

namespace Engine.Kernels;

/// <summary>The part of a GPU backend's kept importance that does not depend on the backend: argument checks,
/// the host copy fetched once, the CPU selection for output dtypes without device kernels, and letting go of the
/// backend once. The backend's <paramref name="gate"/> is held by the thread that made it until disposal: every
/// member checks it is called on that thread before touching any state.</summary>
internal abstract class DeviceImportance(NativeArray<float> host, RawTensor other, RawTensor @base, Cpu.CpuMergeKernels cpu, Lock gate) : IImportance
{
    private bool _downloaded;
    private bool _disposed;

    public long Length => host.Length;

    protected RawTensor Other => other;
    protected RawTensor Base => @base;

    private void CheckUsable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckThread();
    }

    private void CheckThread()
    {
        if (!gate.IsHeldByCurrentThread)
            throw new InvalidOperationException("kept importance used from another thread than the one that made it (it holds the backend's lock)");
    }

    public void SelectRanks(Span<float> results, ReadOnlySpan<long> ranks)
    {
        CheckUsable();
        Cpu.RadixSelect.CheckRanks(results, ranks, Length);
        if (!ranks.IsEmpty) SelectRanksOnDevice(results, ranks);
    }

    public long MaskedSelect(RawTensor output, long start, float threshold)
    {
        CheckUsable();
        long n = output.Length;
        ImportanceShapes.CheckChunk(start, n, Length);
        if (n == 0) return 0;
        if (!HasDeviceKernel(output.DType)) return cpu.MaskedSelect(output, Other.Slice(start, n), Base.Slice(start, n), ToHost(), start, threshold);
        return MaskedSelectOnDevice(output, start, threshold);
    }

    public NativeArray<float> ToHost()
    {
        CheckUsable();
        if (!_downloaded)
        {
            Download(host);
            _downloaded = true;
        }
        return host;
    }

    public void Dispose()
    {
        if (_disposed) return;
        CheckThread();
        _disposed = true;
        Release();
    }

    /// <summary>Ranks checked and not empty.</summary>
    protected abstract void SelectRanksOnDevice(Span<float> results, ReadOnlySpan<long> ranks);

    /// <summary>Range checked, not empty, output dtype with a device kernel.</summary>
    protected abstract long MaskedSelectOnDevice(RawTensor output, long start, float threshold);

    protected abstract bool HasDeviceKernel(Core.DType dtype);

    /// <summary>Copies the importance into <paramref name="destination"/>.</summary>
    protected abstract void Download(NativeArray<float> destination);

    /// <summary>Frees the device buffers it owns and lets go of the backend; called once.</summary>
    protected abstract void Release();
}
