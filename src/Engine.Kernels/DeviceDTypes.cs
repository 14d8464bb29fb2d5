using Engine.Core;
using Engine.Core.Numerics;

namespace Engine.Kernels;

/// <summary>The one rule for which dtypes the GPU kernels (CUDA C and ILGPU alike) read and write, and the code
/// each dtype has in them (<c>kernels/cuda/engine_math.cuh</c>, <c>IlgpuMath</c>). Every other dtype runs on the
/// CPU backend.</summary>
internal static class DeviceDTypes
{
    /// <summary>Whether the GPU kernels read and write <paramref name="dtype"/> (F32, BF16, F16).</summary>
    public static bool HasKernel(DType dtype) => dtype is DType.F32 or DType.BF16 or DType.F16;

    /// <summary>Whether every input and the base are in a dtype the GPU kernels read.</summary>
    public static bool HaveKernels(ReadOnlySpan<RawTensor> inputs, RawTensor? @base)
    {
        foreach (var x in inputs)
        {
            if (!HasKernel(x.DType)) return false;
        }
        return @base is not { } b || HasKernel(b.DType);
    }

    /// <summary>The dtype code the kernels take (F32 0, BF16 1, F16 2).</summary>
    /// <exception cref="NotSupportedException">a dtype without a device kernel.</exception>
    public static int Code(DType dtype) => dtype switch
    {
        DType.F32 => 0,
        DType.BF16 => 1,
        DType.F16 => 2,
        _ => throw new NotSupportedException($"dtype {dtype} has no device kernel"),
    };
}
