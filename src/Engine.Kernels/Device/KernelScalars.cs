namespace Engine.Kernels.Device;

/// <summary>The scalar arguments of the slerp_blend kernel (<c>kernels/cuda/elementwise.cu</c>,
/// <see cref="Ilgpu.IlgpuElementwiseKernels.SlerpBlend"/>), in their order.</summary>
public readonly record struct SlerpBlendScalars(int OutputDType, int HasBase, float T, long Vectors, long VectorLength, int AlongFirst, long FirstElement, long N)
    : IKernelScalars
{
    /// <summary>The values in kernel argument order.</summary>
    public object[] Fields => [OutputDType, HasBase, T, Vectors, VectorLength, AlongFirst, FirstElement, N];
}

/// <summary>The scalar arguments of the task_arithmetic kernel (<c>kernels/cuda/elementwise.cu</c>,
/// <see cref="Ilgpu.IlgpuElementwiseKernels.TaskArithmetic"/>), in their order: an ILGPU kernel takes at most 15
/// arguments.</summary>
public readonly record struct TaskArithmeticScalars(int OutputDType, int K, long WordsPerModel, int BitOffset, int Consensus, int Normalize, float Lambda,
    float LinearDivisor, long N) : IKernelScalars
{
    /// <summary>The values in kernel argument order.</summary>
    public object[] Fields => [OutputDType, K, WordsPerModel, BitOffset, Consensus, Normalize, Lambda, LinearDivisor, N];
}
