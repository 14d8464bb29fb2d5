using System.Diagnostics;
using System.Text;
using Engine.Core;

namespace Engine.Training.Distributed;

/// <summary>The ranks of a training job and this process's place among them. A process started by mpirun (Open
/// MPI's <c>OMPI_COMM_WORLD_SIZE</c>, or the PMI variables of MPICH-style launchers) joins the job through MPI;
/// any other process is a world of one rank that needs no MPI library. Every collective is timed
/// (<see cref="CollectiveSeconds"/>).</summary>
public sealed unsafe class TrainingWorld : IDisposable
{
    private readonly ICollectives _collectives;
    private readonly Stopwatch _clock = new();
    private readonly string _hostTransport;
    private ICollectives? _model;

    private TrainingWorld(ICollectives collectives, int localRank, int localSize, string host, string transport)
    {
        _hostTransport = transport;
        _collectives = collectives;
        LocalRank = localRank;
        LocalSize = localSize;
        Host = host;
    }

    /// <summary>This process's rank, 0 to <see cref="Size"/> - 1; rank 0 logs and writes outputs.</summary>
    public int Rank => _collectives.Rank;
    /// <summary>Ranks in the world; 1 for a single process.</summary>
    public int Size => _collectives.Size;

    /// <summary>Rank among the processes on this machine (picks the GPU on GPU ranks).</summary>
    public int LocalRank { get; }

    /// <summary>Ranks on this machine (they share its memory).</summary>
    public int LocalSize { get; }

    /// <summary>This machine's host name, for the log.</summary>
    public string Host { get; }

    /// <summary>How the ranks exchange data, for the log.</summary>
    public string Transport => _model switch
    {
        NcclCollectives n => $"{_hostTransport}; model buffers over NCCL {NcclCollectives.FormatVersion(n.Version)} ({n.Library})",
        { } => $"{_hostTransport}; model buffers over their own collectives",
        _ => _hostTransport,
    };
    /// <summary>True with more than one rank.</summary>
    public bool IsDistributed => Size > 1;

    /// <summary>Wall seconds spent inside collectives since the world was created.</summary>
    public double CollectiveSeconds => _clock.Elapsed.TotalSeconds;

    /// <summary>The collectives for host memory (MPI, or none in a one-rank world).</summary>
    internal ICollectives Collectives => _collectives;

    /// <summary>The collectives for the model's buffers (gradients, parameters): NCCL on GPU ranks once
    /// <see cref="UseNccl"/> ran, else the host transport (CPU ranks, whose model buffers are host memory).</summary>
    internal ICollectives DeviceCollectives => _model ?? _collectives;

    /// <summary>Whether a GPU run in this world sums its model buffers over NCCL: whenever it has several ranks, and
    /// also for one rank started by a launcher (<c>mpirun -np 1</c>), so that one GPU checks the NCCL path against
    /// the same run without mpirun. A run on the CPU never does (its buffers are host memory, summed over MPI).</summary>
    public bool UsesNccl(TrainerDevice device) => UsesNccl(device.IsCuda, Size, Launched);

    /// <summary>The rule of <see cref="UsesNccl(TrainerDevice)"/>.</summary>
    internal static bool UsesNccl(bool cuda, int ranks, bool launched) => cuda && (ranks > 1 || launched);

    /// <summary>True when a launcher (mpirun) started this process, whatever the rank count.</summary>
    public bool Launched { get; private init; }

    /// <summary>Whether the model's buffers go over their own collectives (<see cref="UseNccl"/> ran), rather than
    /// the host transport.</summary>
    internal bool HasModelCollectives => _model != null;

    /// <summary>Joins every rank in an NCCL communicator whose calls are queued on <paramref name="context"/>'s CUDA
    /// stream (so they follow the kernels that wrote the gradients); until the returned scope is disposed, the
    /// gradients and parameters of data-parallel training go over NCCL on the device. Every rank calls it once,
    /// after creating its context on the GPU <see cref="GpuAssignment.ForRank"/> gives it, and disposes the scope
    /// before the context (destroying a communicator needs its context). Works in a one-rank world without MPI.</summary>
    /// <exception cref="ArgumentException"><paramref name="context"/> is a CPU context.</exception>
    /// <exception cref="EngineException">NCCL is missing (naming every place searched) or refused.</exception>
    public IDisposable UseNccl(ComputeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.IsCuda) throw new ArgumentException("NCCL sums device buffers: the context must be a CUDA one (CPU ranks use MPI)", nameof(context));
        // NCCL binds the communicator to the calling thread's current device.
        context.MakeCurrent();
        return UseModelCollectives(NcclCollectives.Create(_collectives, context.NativeStream, context.MakeCurrent));
    }

    /// <summary>Routes the model buffers' collectives through <paramref name="collectives"/> (taken over: disposed
    /// with the scope) until the returned scope is disposed.</summary>
    internal IDisposable UseModelCollectives(ICollectives collectives)
    {
        if (_model != null)
        {
            collectives.Dispose();
            throw new InvalidOperationException("this world's model buffers already have their own collectives");
        }
        if (collectives.Rank != Rank || collectives.Size != Size)
        {
            collectives.Dispose();
            throw new ArgumentException($"collectives of rank {collectives.Rank} of {collectives.Size} in a world of rank {Rank} of {Size}");
        }
        _model = collectives;
        return new ModelCollectivesScope(this, collectives);
    }

    /// <summary>Ends its own collectives only: disposing it twice, or after another scope took over, does nothing.</summary>
    private sealed class ModelCollectivesScope(TrainingWorld world, ICollectives mine) : IDisposable
    {
        public void Dispose()
        {
            if (!ReferenceEquals(world._model, mine)) return;
            world._model = null;
            mine.Dispose();
        }
    }

    /// <summary>One rank, no MPI.</summary>
    public static TrainingWorld Single() => new(new SingleProcessCollectives(), 0, 1, Environment.MachineName, "none (one process)");

    /// <summary>A world over <paramref name="collectives"/> (taken over), for ranks simulated in one process.</summary>
    internal static TrainingWorld Over(ICollectives collectives, string transport) =>
        new(collectives, collectives.Rank, collectives.Size, Environment.MachineName, transport);

    /// <summary>The job this process belongs to: MPI when a launcher started it with more than one rank, else one
    /// rank without MPI (<see cref="Launched"/> when a launcher started it: <c>mpirun -np 1</c>). A missing MPI
    /// binding or library under mpirun is an <see cref="EngineException"/>.</summary>
    public static TrainingWorld FromEnvironment()
    {
        var launch = Launch();
        if (launch is not { } l) return Single();
        if (l.Size <= 1)
            return new TrainingWorld(new SingleProcessCollectives(), 0, 1, Environment.MachineName, $"none (one rank, {l.Variable}=1)") { Launched = true };
        var mpi = MpiCollectives.Initialize($"started by a launcher as one of {l.Size} ranks ({l.Variable}={l.Size})");
        return new TrainingWorld(mpi, mpi.LocalRank, mpi.LocalSize, mpi.Host,
            mpi.SharedMemory ? "MPI, sums and gathers through a shared-memory window (every rank on this machine)" : "MPI collectives") { Launched = true };
    }

    /// <summary>The rank count a launcher announced in the environment, and the variable that said so; null when
    /// no launcher started this process.</summary>
    public static (int Size, string Variable)? Launch()
    {
        foreach (string variable in new[] { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE" })
            if (int.TryParse(Environment.GetEnvironmentVariable(variable), out int size)) return (size, variable);
        return null;
    }

    /// <summary>"rank R of N (host)" for messages; empty in a one-rank world.</summary>
    public string Describe() => IsDistributed ? $"rank {Rank} of {Size} ({Host})" : "";

    /// <summary>Sum over ranks, in place.</summary>
    public void AllReduceSum(Span<double> values)
    {
        using var _ = Time();
        fixed (double* p = values) _collectives.AllReduceSum(p, values.Length, CollectiveDType.Float64);
    }

    /// <summary>The sum of <paramref name="value"/> over ranks, on every rank.</summary>
    public double AllReduceSum(double value)
    {
        Span<double> one = [value];
        AllReduceSum(one);
        return one[0];
    }

    /// <summary>Returns once every rank has called it.</summary>
    public void Barrier()
    {
        using var _ = Time();
        _collectives.Barrier();
    }

    /// <summary>Every rank's <paramref name="mine"/>, indexed by rank.</summary>
    public byte[][] AllGather(byte[] mine)
    {
        if (!IsDistributed) return [mine];
        using var _ = Time();
        var lengths = new long[Size];
        lengths[Rank] = mine.Length;
        var one = ShardLayout.Even(Size, Size);
        fixed (long* p = lengths) _collectives.AllGather(p, one, CollectiveDType.Int64);
        var layout = new ShardLayout([.. lengths]);
        var all = new byte[layout.Total];
        mine.CopyTo(all, layout.Offset(Rank));
        fixed (byte* p = all) _collectives.AllGather(p, layout, CollectiveDType.Byte);
        return Enumerable.Range(0, Size).Select(r => all.AsSpan(checked((int)layout.Offset(r)), checked((int)layout.Count(r))).ToArray()).ToArray();
    }

    /// <summary>Rank <paramref name="root"/>'s string on every rank.</summary>
    public string Broadcast(string value, int root = 0)
    {
        if (!IsDistributed) return value;
        using var _ = Time();
        var bytes = Encoding.UTF8.GetBytes(value);
        long length = bytes.Length;
        _collectives.Broadcast(&length, 1, CollectiveDType.Int64, root);
        if (Rank != root) bytes = new byte[length];
        fixed (byte* p = bytes) _collectives.Broadcast(p, length, CollectiveDType.Byte, root);
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>Adds the time until disposal to <see cref="CollectiveSeconds"/>.</summary>
    internal Timer Time() => new(_clock);

    internal readonly struct Timer : IDisposable
    {
        private readonly Stopwatch _clock;

        public Timer(Stopwatch clock)
        {
            _clock = clock;
            _clock.Start();
        }

        public void Dispose() => _clock.Stop();
    }

    /// <summary>Ends the whole job (every rank) with <paramref name="code"/>; a one-rank world just exits.</summary>
    public void Abort(int code) => (_model ?? _collectives).Abort(code);

    /// <summary>Frees the collectives: the host ones and, when set up, those of the model buffers (NCCL).</summary>
    public void Dispose()
    {
        _model?.Dispose();
        _collectives.Dispose();
    }
}
