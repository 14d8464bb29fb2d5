using Engine.Interop.Trainer;

namespace Engine.Training;

/// <summary>Numeric type of a model's parameters, gradients, optimizer state and activations.</summary>
public enum ComputeDType
{
    /// <summary>Training.</summary>
    Float32,

    /// <summary>Verification: finite differences and tight parity with a float64 reference.</summary>
    Float64,
}

/// <summary>Where the native trainer runs: the device, its threads, and the stream its calls are ordered on.
/// Models are created in a context; no setting is global.</summary>
public sealed class ComputeContext : IDisposable
{
    private ComputeContext(ContextHandle context, StreamHandle stream, int threads)
    {
        Context = context;
        Stream = stream;
        Threads = threads;
    }

    /// <summary>CPU threads every call uses; 0 = OpenMP's default.</summary>
    public int Threads { get; }

    internal ContextHandle Context { get; }
    internal StreamHandle Stream { get; }

    /// <summary>A CPU context. <paramref name="threads"/> &lt;= 0 uses OpenMP's default.</summary>
    public static ComputeContext CreateCpu(int threads = 0)
    {
        var options = new EngContextOptions { DeviceKind = (int)EngDeviceKind.Cpu, NumThreads = Math.Max(0, threads) };
        NativeTrainerException.Check(TrainerImports.eng_context_create(out var context, options));
        try
        {
            NativeTrainerException.Check(TrainerImports.eng_stream_create(out var stream, context));
            return new ComputeContext(context, stream, Math.Max(0, threads));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>Waits for the work queued on this context's stream (immediate on the CPU).</summary>
    public void Synchronize() => NativeTrainerException.Check(TrainerImports.eng_stream_synchronize(Stream));

    public void Dispose()
    {
        Stream.Dispose();
        Context.Dispose();
    }
}
