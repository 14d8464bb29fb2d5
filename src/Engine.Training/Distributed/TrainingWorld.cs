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
    private NcclCollectives? _nccl;

    private TrainingWorld(ICollectives collectives, int localRank, int localSize, string host, string transport)
    {
        _hostTransport = transport;
        _collectives = collectives;
        LocalRank = localRank;
        LocalSize = localSize;
        Host = host;
    }

    public int Rank => _collectives.Rank;
    public int Size => _collectives.Size;

    /// <summary>Rank among the processes on this machine (picks the GPU on GPU ranks).</summary>
    public int LocalRank { get; }

    /// <summary>Ranks on this machine (they share its memory).</summary>
    public int LocalSize { get; }

    public string Host { get; }

    /// <summary>How the ranks exchange data, for the log.</summary>
    public string Transport => _nccl is { } n ? $"{_hostTransport}; model buffers over NCCL {NcclCollectives.FormatVersion(n.Version)} ({n.Library})" : _hostTransport;
    public bool IsDistributed => Size > 1;

    /// <summary>Wall seconds spent inside collectives since the world was created.</summary>
    public double CollectiveSeconds => _clock.Elapsed.TotalSeconds;

    /// <summary>The collectives for host memory (MPI, or none in a one-rank world).</summary>
    internal ICollectives Collectives => _collectives;

    /// <summary>The collectives for the model's buffers (gradients, parameters): NCCL on GPU ranks once
    /// <see cref="UseNccl"/> ran, else the host transport (CPU ranks, whose model buffers are host memory).</summary>
    internal ICollectives DeviceCollectives => (ICollectives?)_nccl ?? _collectives;

    /// <summary>Joins the ranks in an NCCL communicator whose calls are queued on <paramref name="stream"/> (the
    /// trainer's <c>CUstream</c>); until the returned scope is disposed, <see cref="DeviceCollectives"/> is NCCL.
    /// Every rank calls it once, on a thread where its GPU's context (<see cref="GpuAssignment.ForRank"/>) is current,
    /// and disposes the scope before that context (destroying a communicator needs its context). Works in a
    /// one-rank world without MPI.</summary>
    /// <exception cref="EngineException">NCCL is missing or refused.</exception>
    internal IDisposable UseNccl(nint stream)
    {
        if (_nccl != null) throw new InvalidOperationException("this world already has an NCCL communicator");
        _nccl = NcclCollectives.Create(_collectives, stream);
        return new NcclScope(this);
    }

    private sealed class NcclScope(TrainingWorld world) : IDisposable
    {
        public void Dispose()
        {
            world._nccl?.Dispose();
            world._nccl = null;
        }
    }

    /// <summary>One rank, no MPI.</summary>
    public static TrainingWorld Single() => new(new SingleProcessCollectives(), 0, 1, Environment.MachineName, "none (one process)");

    /// <summary>The job this process belongs to: MPI when a launcher started it with more than one rank, else
    /// <see cref="Single"/>. A missing MPI binding or library under mpirun is an <see cref="EngineException"/>.</summary>
    public static TrainingWorld FromEnvironment()
    {
        var launch = Launch();
        if (launch is not { } l || l.Size <= 1) return Single();
        var mpi = MpiCollectives.Initialize($"started by a launcher as one of {l.Size} ranks ({l.Variable}={l.Size})");
        return new TrainingWorld(mpi, mpi.LocalRank, mpi.LocalSize, mpi.Host,
            mpi.SharedMemory ? "MPI, sums and gathers through a shared-memory window (every rank on this machine)" : "MPI collectives");
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

    public double AllReduceSum(double value)
    {
        Span<double> one = [value];
        AllReduceSum(one);
        return one[0];
    }

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
    public void Abort(int code) => (_nccl ?? _collectives).Abort(code);

    public void Dispose()
    {
        _nccl?.Dispose();
        _collectives.Dispose();
    }
}
