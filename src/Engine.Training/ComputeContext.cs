using Engine.Interop.Trainer;

namespace Engine.Training;

/// <summary>Numeric type of a model's parameters, gradients, optimizer state and activations.</summary>
public enum ComputeDType
{
    /// <summary>Training. On CUDA: bf16 mixed precision (fp32 master weights, gradients, moments and activations;
    /// bf16 GEMM inputs with fp32 accumulation).</summary>
    Float32,

    /// <summary>Verification: finite differences and tight parity with a float64 reference (CPU only).</summary>
    Float64,
}

/// <summary>Where the native trainer runs: the device, its threads, and the stream its calls are ordered on.
/// Models are created in a context; no setting is global.</summary>
public sealed class ComputeContext : IDisposable
{
    private ComputeContext(ContextHandle context, StreamHandle stream, int threads, bool isCuda, int deviceOrdinal)
    {
        Context = context;
        Stream = stream;
        Threads = threads;
        IsCuda = isCuda;
        DeviceOrdinal = deviceOrdinal;
    }

    /// <summary>CPU threads every call uses; 0 = OpenMP's default.</summary>
    public int Threads { get; }

    /// <summary>True for a GPU context (<see cref="CreateCuda"/>).</summary>
    public bool IsCuda { get; }

    /// <summary>The GPU's index on a CUDA context; 0 on the CPU.</summary>
    public int DeviceOrdinal { get; }

    /// <summary>The <c>CUstream</c> this context's calls are queued on (so that NCCL can queue collectives behind
    /// them); <see cref="IntPtr.Zero"/> on the CPU.</summary>
    public IntPtr NativeStream
    {
        get
        {
            NativeTrainerException.Check(TrainerImports.eng_stream_native_handle(out var native, Stream));
            return native;
        }
    }

    internal ContextHandle Context { get; }
    internal StreamHandle Stream { get; }

    /// <summary>A CPU context. <paramref name="threads"/> &lt;= 0 uses OpenMP's default.</summary>
    public static ComputeContext CreateCpu(int threads = 0) =>
        Create(new EngContextOptions { DeviceKind = (int)EngDeviceKind.Cpu, NumThreads = Math.Max(0, threads) }, Math.Max(0, threads));

    /// <summary>A context on GPU <paramref name="ordinal"/>: the CUDA driver and cuBLASLt are opened now.</summary>
    /// <exception cref="NativeTrainerException">Status Unsupported, with a message naming what is missing (driver,
    /// GPU, cuBLASLt) and every place searched, on a machine without them.</exception>
    public static ComputeContext CreateCuda(int ordinal)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ordinal);
        return Create(new EngContextOptions { DeviceKind = (int)EngDeviceKind.Cuda, DeviceOrdinal = ordinal }, 0);
    }

    private static ComputeContext Create(EngContextOptions options, int threads)
    {
        NativeTrainerException.Check(TrainerImports.eng_context_create(out var context, options));
        try
        {
            NativeTrainerException.Check(TrainerImports.eng_stream_create(out var stream, context));
            return new ComputeContext(context, stream, threads, options.DeviceKind == (int)EngDeviceKind.Cuda, options.DeviceOrdinal);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>Makes this context's GPU context (the device's primary context, the one the trainer and the CUDA
    /// runtime libraries such as NCCL share) current on the calling thread; nothing on the CPU.</summary>
    public void MakeCurrent() => NativeTrainerException.Check(TrainerImports.eng_context_make_current(Context));

    /// <summary>Waits for the work queued on this context's stream (immediate on the CPU).</summary>
    public void Synchronize() => NativeTrainerException.Check(TrainerImports.eng_stream_synchronize(Stream));

    /// <summary>Runs every op of the trainer (embedding, RMSNorm, RoPE, attention over packed documents, SwiGLU, the
    /// linear layer, classifier + cross-entropy, AdamW) forward and backward on random inputs from
    /// <paramref name="seed"/>: on a GPU against the CPU fp32 ops within a bf16 tolerance, on the CPU its fp32 ops
    /// against the same code in float64.</summary>
    public unsafe IReadOnlyList<TrainerOpCheck> CheckTrainerOps(ulong seed)
    {
        int count = TrainerImports.eng_op_check_count();
        var checks = new List<TrainerOpCheck>(count);
        for (int i = 0; i < count; i++)
        {
            NativeTrainerException.Check(TrainerImports.eng_context_check_op(out var c, Context, i, seed));
            string op = new string((sbyte*)c.Op);
            checks.Add(new TrainerOpCheck(op, c.ForwardMaxAbsError, c.ForwardMaxRelError, c.BackwardMaxAbsError, c.BackwardMaxRelError,
                c.Tolerance, c.Passed != 0));
        }
        return checks;
    }

    /// <summary>Frees the stream and the native context; models made on it must be disposed first.</summary>
    public void Dispose()
    {
        Stream.Dispose();
        Context.Dispose();
    }
}
