using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace Engine.Interop.Cuda;

/// <summary>Finds the CUDA driver library and says whether CUDA can be used here. Driver-only machines ship
/// <c>libcuda.so.1</c> but no unversioned <c>libcuda.so</c> (that comes with the SDK), so every import of
/// <c>cuda</c> / <c>libcuda.so</c> (ours and ILGPU's) is mapped to the versioned name; the paths probed are
/// kept for the "not available" message.</summary>
public static class CudaLibrary
{
    private static readonly string[] Candidates = OperatingSystem.IsWindows()
        ? ["nvcuda.dll"]
        : ["libcuda.so.1", "libcuda.so", "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1"];

    private static readonly Lazy<(nint Handle, string Trace)> Loaded = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<CudaAvailability> Probe = new(ProbeDriver, LazyThreadSafetyMode.ExecutionAndPublication);
    private static int _hooked;

    /// <summary>Installs the resolver (idempotent). Called before the first driver call; call it before any
    /// other library (ILGPU) imports the driver.</summary>
    public static void Register()
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 1) return;
        AssemblyLoadContext.Default.ResolvingUnmanagedDll += Resolve;
    }

    /// <summary>The driver's handle for a driver import name (loading it on first use; 0 when absent); 0 for any
    /// other name.</summary>
    internal static nint ResolveImport(string name) => IsDriverName(name) ? Loaded.Value.Handle : 0;

    /// <summary>Whether a driver and at least one GPU are present, with the reason when not. Never throws.</summary>
    public static CudaAvailability Availability
    {
        get
        {
            Register();
            return Probe.Value;
        }
    }

    /// <summary>The driver's name of GPU <paramref name="ordinal"/> (e.g. "NVIDIA H200"), read without creating a
    /// context; null when CUDA is unavailable or the ordinal is out of range.</summary>
    public static string? DeviceName(int ordinal)
    {
        var availability = Availability;
        if (!availability.IsAvailable || ordinal < 0 || ordinal >= availability.DeviceCount) return null;
        CudaException.Check(CudaDriverImports.cuDeviceGet(out int device, ordinal));
        return NameOf(device);
    }

    /// <summary>GPU <paramref name="ordinal"/>'s memory in bytes, read without creating a context; null when CUDA is
    /// unavailable or the ordinal is out of range.</summary>
    public static long? TotalMemory(int ordinal)
    {
        var availability = Availability;
        if (!availability.IsAvailable || ordinal < 0 || ordinal >= availability.DeviceCount) return null;
        CudaException.Check(CudaDriverImports.cuDeviceGet(out int device, ordinal));
        CudaException.Check(CudaDriverImports.cuDeviceTotalMem(out nuint bytes, device));
        return (long)bytes;
    }

    /// <summary>The driver's name of a device handle (from cuDeviceGet).</summary>
    internal static unsafe string NameOf(int device)
    {
        byte* name = stackalloc byte[256];
        CudaException.Check(CudaDriverImports.cuDeviceGetName(name, 256, device));
        return System.Text.Encoding.UTF8.GetString(new ReadOnlySpan<byte>(name, 256)).TrimEnd('\0');
    }

    private static nint Resolve(Assembly assembly, string name) => IsDriverName(name) ? Loaded.Value.Handle : 0;

    private static bool IsDriverName(string name) => name is "cuda" or "nvcuda" or "libcuda" or "libcuda.so" or "libcuda.so.1";

    private static (nint, string) Load()
    {
        var probed = new List<string>();
        foreach (var candidate in Candidates)
        {
            if (NativeLibrary.TryLoad(candidate, out nint handle)) return (handle, $"loaded {candidate}");
            probed.Add(candidate);
        }
        return (0, $"no CUDA driver library (probed {string.Join(", ", probed)})");
    }

    private static CudaAvailability ProbeDriver()
    {
        var (handle, trace) = Loaded.Value;
        if (handle == 0) return new CudaAvailability(false, trace, 0, 0);
        try
        {
            var init = CudaDriverImports.cuInit(0);
            if (init != CudaResult.Success) return new CudaAvailability(false, $"cuInit failed: {init} ({(int)init})", 0, 0);
            CudaException.Check(CudaDriverImports.cuDriverGetVersion(out int version));
            CudaException.Check(CudaDriverImports.cuDeviceGetCount(out int count));
            return count > 0
                ? new CudaAvailability(true, $"{trace}; driver {version / 1000}.{version % 1000 / 10}, {count} GPU(s)", count, version)
                : new CudaAvailability(false, $"{trace}; driver {version / 1000}.{version % 1000 / 10} but no GPU", 0, version);
        }
        catch (Exception e) when (e is CudaException or EntryPointNotFoundException or DllNotFoundException)
        {
            return new CudaAvailability(false, e.Message, 0, 0);
        }
    }
}

/// <summary>Whether CUDA can be used, and why not when it cannot (<c>DriverVersion</c>: e.g. 13000 for
/// CUDA 13.0; 0 when unknown).</summary>
public sealed record CudaAvailability(bool IsAvailable, string Reason, int DeviceCount, int DriverVersion);
