using Engine.Core;
using Engine.Interop.Cuda;
using Engine.Interop.Nccl;

namespace Engine.Training.Distributed;

/// <summary>Where one rank of a training job computes: its <see cref="ComputeContext"/> and, on GPU ranks that sum
/// their model buffers over NCCL (<see cref="TrainingWorld.UsesNccl(TrainerDevice)"/>), the communicator, joined
/// on the context's stream. Disposing it destroys the communicator before the context, as NCCL needs.</summary>
public sealed class RankContext : IDisposable
{
    private readonly IDisposable? _nccl;

    private RankContext(ComputeContext context, IDisposable? nccl)
    {
        Context = context;
        _nccl = nccl;
    }

    /// <summary>This rank's compute context (its device and stream).</summary>
    public ComputeContext Context { get; }

    /// <summary>True when the gradients and parameters go over NCCL on the device.</summary>
    public bool UsesNccl => _nccl != null;

    /// <summary>Opens <paramref name="device"/> for this rank of <paramref name="world"/>. A GPU rank under a
    /// launcher checks first, each with a one-line <see cref="EngineException"/> naming <paramref name="command"/>:
    /// the CUDA driver and a GPU (with the driver probe's reason); with several ranks on the machine, that the rank
    /// trains on GPU <c>local rank mod visible GPUs</c> (<see cref="GpuAssignment"/>: one GPU per rank); NCCL
    /// (naming every place searched). Then the context, then the communicator (collective: every rank).</summary>
    public static RankContext Open(TrainingWorld world, TrainerDevice device, int threads, string command)
    {
        ArgumentNullException.ThrowIfNull(world);
        ArgumentNullException.ThrowIfNull(device);
        bool nccl = world.UsesNccl(device);
        if (nccl)
        {
            CheckGpu(world, device, command);
            CheckNccl(world, device, command);
        }
        var context = device.CreateContext(threads);
        try
        {
            return new RankContext(context, nccl ? world.UseNccl(context) : null);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    private static void CheckGpu(TrainingWorld world, TrainerDevice device, string command)
    {
        var cuda = CudaLibrary.Availability;
        if (!cuda.IsAvailable) throw new EngineException($"{command}: --device {device}: {cuda.Reason}");
        if (world.LocalSize <= 1) return;
        int assigned;
        try
        {
            assigned = GpuAssignment.Ordinal(world.LocalRank, world.LocalSize, cuda.DeviceCount, world.Host);
        }
        catch (EngineException e)
        {
            throw new EngineException($"{command}: {e.Message}", e);
        }
        if (assigned != device.Ordinal)
            throw new EngineException($"{command}: --device {device} on {world.Describe()}: with {world.LocalSize} ranks on {world.Host} local rank {world.LocalRank} " +
                $"trains on cuda:{assigned} (local rank mod {cuda.DeviceCount} GPUs; NCCL needs one GPU per rank); pass --device cuda");
    }

    private static void CheckNccl(TrainingWorld world, TrainerDevice device, string command)
    {
        try
        {
            NcclLibrary.Load();
        }
        catch (NcclException e)
        {
            throw new EngineException($"{command}: --device {device} under a launcher ({world.Size} rank(s)) sums gradients over NCCL, but {e.Message}", e);
        }
    }

    /// <summary>Frees the context and, on GPU ranks, the NCCL communicator.</summary>
    public void Dispose()
    {
        _nccl?.Dispose();
        Context.Dispose();
    }
}
