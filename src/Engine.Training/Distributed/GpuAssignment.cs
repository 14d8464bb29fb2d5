using Engine.Core;
using Engine.Interop.Cuda;

namespace Engine.Training.Distributed;

/// <summary>Which GPU a rank trains on: rank r uses GPU <c>localRank mod visibleGpus</c>, where the visible GPUs are
/// those the CUDA driver reports (so <c>CUDA_VISIBLE_DEVICES</c> applies) and the local rank is the rank's place
/// among the ranks on its machine. NCCL needs each rank of a communicator on its own GPU, so more ranks on a
/// machine than it has GPUs is refused rather than left to fail inside NCCL.</summary>
public static class GpuAssignment
{
    /// <summary>The ordinal for local rank <paramref name="localRank"/> of <paramref name="localSize"/> ranks on
    /// <paramref name="host"/>, which shows <paramref name="visibleGpus"/> GPUs.</summary>
    /// <exception cref="EngineException">no GPU, or more ranks on the machine than GPUs.</exception>
    public static int Ordinal(int localRank, int localSize, int visibleGpus, string host)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(localRank);
        ArgumentOutOfRangeException.ThrowIfLessThan(localSize, 1);
        if (localRank >= localSize) throw new ArgumentOutOfRangeException(nameof(localRank), localRank, $"local rank of {localSize} ranks");
        if (visibleGpus < 1) throw new EngineException($"--device cuda: {host} shows no GPU");
        if (localSize > visibleGpus)
            throw new EngineException($"--device cuda: {localSize} ranks on {host} but it shows {visibleGpus} GPU(s); each rank needs its own GPU (start at most {visibleGpus} ranks per machine, or set CUDA_VISIBLE_DEVICES)");
        return localRank % visibleGpus;
    }

    /// <summary>The GPU this process trains on in <paramref name="world"/>, from the driver's GPU count.</summary>
    /// <exception cref="EngineException">no CUDA driver or GPU (with the driver probe's reason), or too few GPUs.</exception>
    public static int ForRank(TrainingWorld world)
    {
        var cuda = CudaLibrary.Availability;
        if (!cuda.IsAvailable) throw new EngineException($"--device cuda: {cuda.Reason}");
        return Ordinal(world.LocalRank, world.LocalSize, cuda.DeviceCount, world.Host);
    }
}
