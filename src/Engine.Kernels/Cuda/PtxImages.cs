using System.Reflection;

namespace Engine.Kernels.Cuda;

/// <summary>The PTX of <c>kernels/cuda/*.cu</c>, embedded by the build (Engine.Kernels.csproj).</summary>
public static class PtxImages
{
    /// <summary>The kernel files, by name without extension.</summary>
    public static readonly IReadOnlyList<string> Names = ["row_importance", "radix_select", "masked_select", "elementwise", "row_importance_bf16"];

    /// <summary>The embedded PTX text of <paramref name="name"/>.</summary>
    public static byte[] Read(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"Engine.Kernels.Cuda.{name}.ptx")
            ?? throw new InvalidOperationException($"PTX for {name}.cu is not embedded in Engine.Kernels (build problem)");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
