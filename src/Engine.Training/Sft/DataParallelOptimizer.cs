using Engine.Training.Distributed;

namespace Engine.Training.Sft;

/// <summary>The optimizer step of a data-parallel run, after every rank has added the gradients of its
/// micro-batches into the model's float64 accumulator (<see cref="Qwen2Model.AccumulateGradients"/>). One rank:
/// round the accumulator, then the native AdamW over everything. Stage 0: all-reduce the accumulator, then every
/// rank runs the same AdamW on its full replica of the state. Stage 1 (ZeRO-1, llm.c's order): reduce-scatter the
/// accumulator so each rank holds the summed gradients of its shard, the global norm from each shard's squared
/// norm summed over ranks, AdamW on the own shard only (the moments exist for that shard only), then all-gather
/// the parameters. Both stages clip by the global norm, as one process does. The sums are float64 (exact for a
/// few float32 terms) and rounded once, so N ranks with accumulation A give the gradient of one process with
/// accumulation N x A, bit for bit in practice; the price is float64 traffic (8 bytes per parameter).
/// On GPU ranks (<see cref="TrainingWorld.UseNccl"/>) every buffer is the model's device memory: the reduce-scatter
/// sums in place into the accumulator's own shard (no host copy, no second buffer), and the all-gather writes the
/// fp32 master weights, from which the CUDA model rounds its bf16 GEMM copies at the start of every forward, so
/// the next step computes with the gathered weights. A one-rank world with such collectives (<c>mpirun -np 1</c>
/// on a GPU) runs the same calls, so one GPU checks the path.</summary>
public sealed unsafe class DataParallelOptimizer
{
    private readonly Qwen2Model _model;
    private readonly TrainingWorld _world;
    private readonly bool _collective;

    /// <summary>The optimizer of <paramref name="model"/> across <paramref name="world"/> at ZeRO stage <paramref name="zeroStage"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="zeroStage"/> is not 0 or 1.</exception>
    public DataParallelOptimizer(Qwen2Model model, TrainingWorld world, int zeroStage)
    {
        if (zeroStage is not (0 or 1)) throw new ArgumentOutOfRangeException(nameof(zeroStage), zeroStage, "the zero stage must be 0 or 1");
        _model = model;
        _world = world;
        _collective = world.IsDistributed || world.HasModelCollectives;
        ZeroStage = _collective ? zeroStage : 0;
        Layout = ZeroStage == 1 ? ShardLayout.Even(model.ParameterCount, world.Size) : ShardLayout.Even(model.ParameterCount, 1);
        int rank = ZeroStage == 1 ? world.Rank : 0;
        (ShardOffset, ShardCount) = (Layout.Offset(rank), Layout.Count(rank));
        if (ZeroStage == 1) model.SetOptimizerRange(ShardOffset, ShardCount);
    }

    /// <summary>0 or 1 (a one-rank run is stage 0 whatever was asked, unless its model buffers have their own
    /// collectives: NCCL under a launcher).</summary>
    public int ZeroStage { get; }

    /// <summary>How the optimizer state is split: one shard per rank at stage 1, one shard of everything at stage 0.</summary>
    public ShardLayout Layout { get; }

    /// <summary>The part of the flat buffer whose AdamW moments this rank keeps.</summary>
    public long ShardOffset { get; }
    /// <summary>Elements of that part.</summary>
    public long ShardCount { get; }

    /// <summary>Synchronises the gradients and applies AdamW step <paramref name="step"/>; returns the global
    /// gradient norm before clipping (the same on every rank).</summary>
    public double Step(AdamWOptions options, long step)
    {
        long total = _model.ParameterCount;
        double* accumulator = _model.GradientAccumulator();
        if (ZeroStage == 0)
        {
            if (_collective)
            {
                using var _ = _world.Time();
                _world.DeviceCollectives.AllReduceSum(accumulator, total, CollectiveDType.Float64);
            }
            _model.FlushGradients(0, total);
            return _model.AdamWStep(options, step);
        }
        using (_world.Time()) _world.DeviceCollectives.ReduceScatterSumInPlace(accumulator, Layout, CollectiveDType.Float64);
        _model.FlushGradients(ShardOffset, ShardCount);
        double norm = Math.Sqrt(_world.AllReduceSum(_model.GradientSquaredNorm(ShardOffset, ShardCount)));
        // torch.nn.utils.clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied only when below 1.
        double scale = options.MaxGradNorm > 0 ? Math.Min(1.0, options.MaxGradNorm / (norm + 1e-6)) : 1.0;
        _model.AdamWUpdate(options, step, scale, ShardOffset, ShardCount);
        using (_world.Time()) _world.DeviceCollectives.AllGather(_model.BufferPointer(ModelBuffer.Parameters), Layout, CollectiveDType.Float32);
        return norm;
    }

    /// <summary>Bytes of optimizer state this rank holds in host memory on the CPU: AdamW's two float32 moments for
    /// its shard, plus at stage 1 the float64 buffer MPI's reduce-scatter lands in (<see cref="MpiCollectives"/>).</summary>
    public static long StateBytes(long parameters, int ranks, int zeroStage)
    {
        bool sharded = zeroStage == 1 && ranks > 1;
        long shard = sharded ? (parameters + ranks - 1) / ranks : parameters;
        return 2 * shard * sizeof(float) + (sharded ? shard * sizeof(double) : 0);
    }

}
