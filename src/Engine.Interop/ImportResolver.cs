using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Engine.Interop.Cuda;
using Engine.Interop.Nccl;
using Engine.Interop.Trainer;

namespace Engine.Interop;

/// <summary>The one <see cref="NativeLibrary.SetDllImportResolver"/> hook of this assembly (the runtime allows one
/// per assembly): the CUDA driver's and NCCL's import names go to the libraries <see cref="CudaLibrary"/> and
/// <see cref="NcclLibrary"/> found, the native trainer's to the build <see cref="NativeTrainerLibrary"/> picks for
/// this CPU; every other name (the MPI binding) takes the default probing.</summary>
internal static class ImportResolver
{
    /// <summary>Installs the hook when this assembly loads (the runtime runs a module initializer once, before any
    /// code of the assembly), so that no import can run before it.</summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "the resolver must be in place before the first import of any caller")]
    internal static void InstallOnLoad() => NativeLibrary.SetDllImportResolver(typeof(ImportResolver).Assembly, Resolve);

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        nint driver = CudaLibrary.ResolveImport(name);
        if (driver != 0) return driver;
        nint nccl = NcclLibrary.ResolveImport(name);
        return nccl != 0 ? nccl : NativeTrainerLibrary.ResolveImport(name, assembly, searchPath);
    }
}
