namespace Engine.Training;

/// <summary>Where the native trainer computes: the CPU, or one GPU by its CUDA ordinal (bf16 mixed precision).</summary>
public sealed record TrainerDevice
{
    private TrainerDevice(bool isCuda, int ordinal) => (IsCuda, Ordinal) = (isCuda, ordinal);

    /// <summary>The CPU (float32 or float64 math on the host's threads).</summary>
    public static TrainerDevice Cpu { get; } = new(false, 0);

    /// <summary>GPU <paramref name="ordinal"/> (among those CUDA_VISIBLE_DEVICES leaves visible).</summary>
    public static TrainerDevice Cuda(int ordinal)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ordinal);
        return new TrainerDevice(true, ordinal);
    }

    /// <summary>True for a GPU.</summary>
    public bool IsCuda { get; }

    /// <summary>The GPU's ordinal; 0 on the CPU.</summary>
    public int Ordinal { get; }

    /// <summary>A context on this device; <paramref name="threads"/> is the CPU's thread count (ignored on a GPU).</summary>
    /// <exception cref="NativeTrainerException">a GPU device on a machine without the CUDA driver, a GPU or cuBLASLt
    /// (status Unsupported, the message naming what is missing and where it looked).</exception>
    public ComputeContext CreateContext(int threads) => IsCuda ? ComputeContext.CreateCuda(Ordinal) : ComputeContext.CreateCpu(threads);

    /// <summary><c>cpu</c> or <c>cuda:N</c>, as <c>--device</c> takes it.</summary>
    public override string ToString() => IsCuda ? $"cuda:{Ordinal}" : "cpu";
}
