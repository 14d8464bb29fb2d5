using Engine.Interop.Cuda;
using Engine.Testing;

namespace Engine.Kernels.Tests;

/// <summary>A fact that runs only where a CUDA driver and a GPU are present, and says why it skipped.</summary>
public sealed class RequiresCudaFactAttribute : FactAttribute
{
    public RequiresCudaFactAttribute()
    {
        var availability = CudaLibrary.Availability;
        if (!availability.IsAvailable) Skip = $"no CUDA GPU here: {availability.Reason}";
    }
}

/// <summary>Compiles kernels/cuda/*.cu to PTX exactly as Engine.Kernels.csproj does.</summary>
public static class ClangCuda
{
    public static string KernelDirectory => ClangCudaCompiler.RepositoryPath("kernels", "cuda");

    /// <summary>The PTX text of <c>kernels/cuda/{name}.cu</c>, or the compiler's error output.</summary>
    public static (int ExitCode, string Ptx, string Errors) Compile(string name) => ClangCudaCompiler.Compile(Path.Combine(KernelDirectory, name + ".cu"));
}
