namespace Engine.Training;

/// <summary>Where the native trainer computes: the CPU, or one GPU by its CUDA ordinal (bf16 mixed precision).</summary>
public sealed record TrainerDevice
{
    private TrainerDevice(bool isCuda, int ordinal) => (IsCuda, Ordinal) = (isCuda, ordinal);

    public static TrainerDevice Cpu { get; } = new(false, 0);

    /// <summary>GPU <paramref name="ordinal"/> (among those CUDA_VISIBLE_DEVICES leaves visible).</summary>
    public static TrainerDevice Cuda(int ordinal)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ordinal);
        return new TrainerDevice(true, ordinal);
    }

    public bool IsCuda { get; }

    /// <summary>The GPU's ordinal; 0 on the CPU.</summary>
    public int Ordinal { get; }

    /// <summary>A context on this device; <paramref name="threads"/> is the CPU's thread count (ignored on a GPU).</summary>
    /// <exception cref="NativeTrainerException">a GPU device on a machine without the CUDA driver, a GPU or cuBLASLt
    /// (status Unsupported, the message naming what is missing and where it looked).</exception>
    public ComputeContext CreateContext(int threads) => IsCuda ? ComputeContext.CreateCuda(Ordinal) : ComputeContext.CreateCpu(threads);

    /// <summary>Refuses a GPU run of more than one rank: its gradients must be summed by NCCL on the device, which
    /// the trainer does not call yet (the MPI collectives read host memory).</summary>
    /// <exception cref="Engine.Core.EngineException">a CUDA device with <paramref name="ranks"/> &gt; 1.</exception>
    public void CheckRanks(int ranks, string command)
    {
        if (IsCuda && ranks > 1)
            throw new Engine.Core.EngineException($"{command}: --device {this} with {ranks} ranks needs NCCL collectives on the GPU, which are not wired in yet; " +
                "run one rank per GPU (no mpirun) or use --device cpu");
    }

    public override string ToString() => IsCuda ? $"cuda:{Ordinal}" : "cpu";
}
