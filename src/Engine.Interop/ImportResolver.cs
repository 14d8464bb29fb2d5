using System.Runtime.InteropServices;
using Engine.Interop.Cuda;
using Engine.Interop.Nccl;

namespace Engine.Interop;

/// <summary>The one <see cref="NativeLibrary.SetDllImportResolver"/> hook of this assembly (the runtime allows one
/// per assembly): the CUDA driver's and NCCL's import names go to the libraries <see cref="CudaLibrary"/> and
/// <see cref="NcclLibrary"/> found; every other name (the engine's own native libraries) takes the default probing.</summary>
internal static class ImportResolver
{
    private static int _installed;

    /// <summary>Installs the hook (idempotent); call before the first import of either library.</summary>
    public static void Install()
    {
        if (Interlocked.Exchange(ref _installed, 1) == 1) return;
        NativeLibrary.SetDllImportResolver(typeof(ImportResolver).Assembly, (name, _, _) =>
        {
            nint driver = CudaLibrary.ResolveImport(name);
            return driver != 0 ? driver : NcclLibrary.ResolveImport(name);
        });
    }
}
