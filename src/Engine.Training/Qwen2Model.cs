using System.Collections.Immutable;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;
using System.Runtime.InteropServices;
using Engine.Interop.Trainer;

namespace Engine.Training;

/// <summary>One tensor of the model's flat buffers: HF name, element offset and shape.</summary>
public sealed record ModelParameter(string Name, long Offset, long Count, ImmutableArray<long> Shape, bool WeightDecay);

/// <summary>The model's flat buffers, each <see cref="Qwen2Model.ParameterCount"/> elements in parameter order.</summary>
public enum ModelBuffer
{
    /// <summary>The parameters θ.</summary>
    Parameters = 0,
    /// <summary>The gradients dL/dθ, accumulated with += by each backward until <see cref="Qwen2Model.ZeroGradients"/>.</summary>
    Gradients = 1,

    /// <summary>AdamW's first moment m.</summary>
    AdamFirstMoment = 2,

    /// <summary>AdamW's second moment v.</summary>
    AdamSecondMoment = 3,
}

/// <summary>Loss of one micro-batch: the sum of its token losses and the number of scored tokens.</summary>
public readonly record struct BatchLoss(double Sum, long ScoredTokens)
{
    /// <summary><c>Sum / ScoredTokens</c>, 0 for a batch with no scored token.</summary>
    public double Mean => ScoredTokens == 0 ? 0 : Sum / ScoredTokens;
}

/// <summary>A Qwen2 decoder in the native trainer: parameters, gradients and AdamW state in one flat
/// allocation; forward and backward over packed batches; AdamW steps. Gradients accumulate over
/// <see cref="ForwardBackward"/> calls until <see cref="ZeroGradients"/>.</summary>
public sealed unsafe class Qwen2Model : IDisposable
{
    private readonly ComputeContext _context;
    private readonly ModelHandle _model;
    private readonly Dictionary<string, ModelParameter> _byName;

    private Qwen2Model(ComputeContext context, ModelHandle model, Qwen2Config config, ComputeDType dtype)
    {
        _context = context;
        _model = model;
        Config = config;
        DType = dtype;
        NativeTrainerException.Check(TrainerImports.eng_model_num_params(out long count, model));
        ParameterCount = count;
        NativeTrainerException.Check(TrainerImports.eng_model_tensor_count(out int tensors, model));
        var list = new List<ModelParameter>(tensors);
        for (int i = 0; i < tensors; i++)
        {
            NativeTrainerException.Check(TrainerImports.eng_model_tensor_info(out var info, model, i));
            string name = new string((sbyte*)info.Name);
            var shape = info.NDim == 2 ? ImmutableArray.Create<long>(info.Shape[0], info.Shape[1]) : ImmutableArray.Create<long>(info.Shape[0]);
            list.Add(new ModelParameter(name, info.Offset, info.Numel, shape, info.WeightDecay != 0));
        }
        Parameters = list;
        _byName = list.ToDictionary(p => p.Name, StringComparer.Ordinal);
    }

    /// <summary>The decoder's shape.</summary>
    public Qwen2Config Config { get; }
    /// <summary>The element type of the flat buffers and of the math (float32 or float64).</summary>
    public ComputeDType DType { get; }
    /// <summary>Elements of each flat buffer: every HF tensor once (lm_head not stored when tied).</summary>
    public long ParameterCount { get; }

    /// <summary>The tensors in flat-buffer order (HF names).</summary>
    public IReadOnlyList<ModelParameter> Parameters { get; }

    /// <summary>A model with zero parameters. <paramref name="lossChunkTokens"/> bounds the classifier's logits
    /// buffer to that many tokens x vocab.</summary>
    public static Qwen2Model Create(ComputeContext context, Qwen2Config config, ComputeDType dtype = ComputeDType.Float32, int lossChunkTokens = 64)
    {
        NativeTrainerException.Check(TrainerImports.eng_model_create(out var model, context.Context, Native(config, dtype, lossChunkTokens)));
        try
        {
            return new Qwen2Model(context, model, config, dtype);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Creates the model of an HF directory (config.json + safetensors, BF16, F16 or F32) and loads its
    /// weights. A tied model without <c>lm_head.weight</c> uses the embedding; every other tensor must be present
    /// with the expected shape.</summary>
    public static Qwen2Model Load(ComputeContext context, ModelDirectory directory, ComputeDType dtype = ComputeDType.Float32, int lossChunkTokens = 64)
    {
        var config = Qwen2Config.FromModelConfig(directory.Config ?? throw new ModelDirectoryException($"{directory.Path}: no config.json"));
        var model = Create(context, config, dtype, lossChunkTokens);
        try
        {
            foreach (var p in model.Parameters)
            {
                var tensor = directory.GetTensor(p.Name);
                if (!tensor.Info.Shape.SequenceEqual(p.Shape))
                    throw new ModelDirectoryException($"{directory.Path}: tensor '{p.Name}' has shape {tensor.Info.ShapeText}, expected {TensorInfoShape(p.Shape)}");
                using var view = tensor.Read();
                model.WriteTensor(p, view.Pointer, tensor.Info.DType, directory.Path);
            }
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The tensor named <paramref name="name"/> (HF name) in the flat buffers.</summary>
    /// <exception cref="ArgumentException">The model has no such tensor.</exception>
    public ModelParameter GetParameter(string name) =>
        _byName.TryGetValue(name, out var p) ? p : throw new ArgumentException($"the model has no tensor '{name}'");

    /// <summary>Writes parameter values (float32) into the flat parameter buffer at <paramref name="offset"/>.</summary>
    public void WriteParameters(ReadOnlySpan<float> values, long offset) => Write(EngBuffer.Params, values, offset);

    /// <summary>Writes parameter values (float64; rounded to float32 on a float32 model).</summary>
    public void WriteParameters(ReadOnlySpan<double> values, long offset) => Write(EngBuffer.Params, values, offset);

    /// <summary>Reads parameters from element <paramref name="offset"/> of the flat buffer into <paramref name="destination"/> (float64).</summary>
    /// <exception cref="NativeTrainerException">The range runs past the buffer.</exception>
    public void ReadParameters(Span<double> destination, long offset) => Read(destination, EngBuffer.Params, offset);
    /// <summary>Reads parameters from element <paramref name="offset"/> into <paramref name="destination"/>, rounded to float32 on a float64 model.</summary>
    public void ReadParameters(Span<float> destination, long offset) => Read(destination, EngBuffer.Params, offset);
    /// <summary>Reads gradients from element <paramref name="offset"/> of the flat gradient buffer (float64).</summary>
    public void ReadGradients(Span<double> destination, long offset) => Read(destination, EngBuffer.Grads, offset);

    /// <summary>Reads any flat buffer (for checkpoints: a float32 model round-trips exactly through float32).</summary>
    public void ReadBuffer(ModelBuffer buffer, Span<float> destination, long offset) => Read(destination, (EngBuffer)buffer, offset);
    /// <summary>As above, as float64.</summary>
    public void ReadBuffer(ModelBuffer buffer, Span<double> destination, long offset) => Read(destination, (EngBuffer)buffer, offset);

    /// <summary>Writes any flat buffer (restoring a checkpoint's parameters and optimizer state).</summary>
    public void WriteBuffer(ModelBuffer buffer, ReadOnlySpan<float> values, long offset) => Write((EngBuffer)buffer, values, offset);
    /// <summary>As above, from float64 (rounded to float32 on a float32 model).</summary>
    public void WriteBuffer(ModelBuffer buffer, ReadOnlySpan<double> values, long offset) => Write((EngBuffer)buffer, values, offset);

    /// <summary>One tensor's parameters as float64.</summary>
    public double[] ReadParameters(string name)
    {
        var p = GetParameter(name);
        var values = new double[p.Count];
        ReadParameters(values, p.Offset);
        return values;
    }

    /// <summary>One tensor's gradients as float64.</summary>
    public double[] ReadGradients(string name)
    {
        var p = GetParameter(name);
        var values = new double[p.Count];
        ReadGradients(values, p.Offset);
        return values;
    }

    /// <summary>Sets every gradient to 0, as a step starts (backward accumulates with +=).</summary>
    public void ZeroGradients() => NativeTrainerException.Check(TrainerImports.eng_model_zero_grads(_model, _context.Stream));

    /// <summary>Forward over <paramref name="batch"/>, then backward adding
    /// <c>lossScale * d(sum of token losses)/d(params)</c> to the gradients. For a step of several micro-batches
    /// pass <c>1 / (scored tokens of the whole step)</c>. <paramref name="tokenLosses"/> (optional, one per token)
    /// receives each token's loss against its shifted label, 0 where there is none.</summary>
    public BatchLoss ForwardBackward(PackedBatch batch, double lossScale, Span<float> tokenLosses = default) =>
        Run(batch, lossScale, backward: true, tokenLosses);

    /// <summary>Forward only: the loss, gradients untouched.</summary>
    public BatchLoss Forward(PackedBatch batch, Span<float> tokenLosses = default) => Run(batch, 0, backward: false, tokenLosses);

    /// <summary>Forward only: the logits of every token of <paramref name="batch"/>, (tokens, vocab) row-major, computed
    /// as the loss computes them (for checking decoders and samplers against the full forward).</summary>
    public void Logits(PackedBatch batch, Span<float> logits) => Logits(batch, logits, EngDType.F32);

    /// <summary>As <see cref="Logits(PackedBatch, Span{float})"/>, widened to float64 (exact on a float64 model).</summary>
    public void Logits(PackedBatch batch, Span<double> logits) => Logits(batch, logits, EngDType.F64);

    /// <summary>A greedy/incremental decoder over this model: K/V caches for up to <paramref name="maxSequences"/>
    /// sequences of up to <paramref name="maxTokens"/> tokens each. Dispose it before the model.</summary>
    public Qwen2Decoder CreateDecoder(int maxSequences, int maxTokens)
    {
        NativeTrainerException.Check(TrainerImports.eng_decoder_create(out var decoder, _model, maxSequences, maxTokens));
        return new Qwen2Decoder(this, decoder);
    }

    internal ModelHandle Handle => _model;

    internal StreamHandle Stream => _context.Stream;

    /// <summary>Clips (when configured) and applies AdamW step <paramref name="step"/> (1-based); returns the
    /// gradient norm before clipping. Gradients are left as they are.</summary>
    public double AdamWStep(AdamWOptions options, long step)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        NativeTrainerException.Check(TrainerImports.eng_model_adamw_step(out double norm, _model, Native(options, step), _context.Stream));
        return norm;
    }

    /// <summary>Keeps AdamW's moments for <c>[offset, offset + count)</c> of the flat buffer only (ZeRO-1: a
    /// rank's shard), zeroed. Offsets into <see cref="ModelBuffer.AdamFirstMoment"/> and
    /// <see cref="ModelBuffer.AdamSecondMoment"/> stay those of the flat buffer and must lie in the range.</summary>
    public void SetOptimizerRange(long offset, long count) =>
        NativeTrainerException.Check(TrainerImports.eng_model_set_optimizer_range(_model, offset, count));

    /// <summary>The range AdamW's moments cover (all parameters unless <see cref="SetOptimizerRange"/> narrowed it).</summary>
    public (long Offset, long Count) OptimizerRange
    {
        get
        {
            NativeTrainerException.Check(TrainerImports.eng_model_optimizer_range(out long offset, out long count, _model));
            return (offset, count);
        }
    }

    /// <summary>Adds the gradients into the float64 accumulator and zeroes them (after each micro-batch's backward):
    /// a step's gradient then does not depend on how its micro-batches are split over accumulation and ranks.</summary>
    public void AccumulateGradients() => NativeTrainerException.Check(TrainerImports.eng_model_accumulate_grads(_model, _context.Stream));

    /// <summary>Rounds the accumulator into the gradients of <c>[offset, offset + count)</c>, then zeroes all of it.</summary>
    public void FlushGradients(long offset, long count) =>
        NativeTrainerException.Check(TrainerImports.eng_model_flush_grads(_model, offset, count, _context.Stream));

    /// <summary>The float64 gradient accumulator (<see cref="ParameterCount"/> doubles), for collectives in place:
    /// host memory on the CPU, device memory on a GPU (<see cref="ComputeContext.IsCuda"/>; NCCL's business).</summary>
    internal double* GradientAccumulator()
    {
        NativeTrainerException.Check(TrainerImports.eng_model_grad_accumulator(out double* data, _model));
        return data;
    }

    /// <summary>Sum of squared gradients over <c>[offset, offset + count)</c>, in float64.</summary>
    public double GradientSquaredNorm(long offset, long count)
    {
        NativeTrainerException.Check(TrainerImports.eng_model_grad_sqnorm(out double sum, _model, offset, count, _context.Stream));
        return sum;
    }

    /// <summary>AdamW step <paramref name="step"/> on <c>[offset, offset + count)</c> (inside the optimizer range),
    /// every gradient multiplied by <paramref name="gradScale"/> (the clip coefficient of the global norm);
    /// <see cref="AdamWOptions.MaxGradNorm"/> is not applied here.</summary>
    public void AdamWUpdate(AdamWOptions options, long step, double gradScale, long offset, long count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        NativeTrainerException.Check(TrainerImports.eng_model_adamw_update(_model, Native(options, step), gradScale, offset, count, _context.Stream));
    }

    /// <summary>The first element of a flat buffer (of the optimizer range for the moments), for collectives that
    /// work in place: host memory on the CPU, device memory on a GPU. Valid until disposal or the next
    /// <see cref="SetOptimizerRange"/>.</summary>
    internal float* BufferPointer(ModelBuffer buffer)
    {
        if (DType != ComputeDType.Float32) throw new InvalidOperationException("collectives run on float32 models");
        NativeTrainerException.Check(TrainerImports.eng_model_buffer_data(out void* data, _model, (EngBuffer)buffer));
        return (float*)data;
    }

    /// <summary>Turns op timing on or off (dropping the records so far either way): while on, the native trainer
    /// times every op it runs (CPU) or every kernel launch and GEMM (CUDA events on the stream); off, a run is
    /// unchanged.</summary>
    public void SetProfiling(bool enabled) =>
        NativeTrainerException.Check(TrainerImports.eng_model_set_profiling(_model, enabled ? 1 : 0, _context.Stream));

    /// <summary>The ops timed since <see cref="SetProfiling"/> turned timing on, in the order they ran (waits for the
    /// GPU's queued work).</summary>
    public IReadOnlyList<OpTiming> ReadProfile()
    {
        NativeTrainerException.Check(TrainerImports.eng_model_profile_read(null, out int count, _model, 0, _context.Stream));
        var records = new EngProfileRecord[count];
        int read;
        fixed (EngProfileRecord* p = records)
            NativeTrainerException.Check(TrainerImports.eng_model_profile_read(p, out read, _model, count, _context.Stream));
        var ops = new List<OpTiming>(Math.Min(read, count));
        for (int i = 0; i < Math.Min(read, count); i++)
        {
            ref var r = ref records[i];
            string op;
            fixed (byte* name = r.Op) op = new string((sbyte*)name);
            ops.Add(new OpTiming(op, r.Layer, (OpPass)r.Pass, r.StartMicroseconds, r.DurationMicroseconds));
        }
        return ops;
    }

    /// <summary>Frees the native model and its buffers.</summary>
    public void Dispose() => _model.Dispose();

    /// <summary>Bytes of activations a model of <paramref name="config"/> allocates for a micro-batch of
    /// <paramref name="tokens"/> tokens (computed by the native trainer, without creating a model).</summary>
    public static long ActivationBytes(Qwen2Config config, long tokens, ComputeDType dtype = ComputeDType.Float32, int lossChunkTokens = 64)
    {
        NativeTrainerException.Check(TrainerImports.eng_config_activation_bytes(out long bytes, Native(config, dtype, lossChunkTokens), tokens));
        return bytes;
    }

    /// <summary>Bytes a model of <paramref name="config"/> on the CPU or a GPU (<paramref name="cuda"/>) allocates
    /// for micro-batches of up to <paramref name="tokens"/> tokens besides its flat buffers (parameters, gradients,
    /// AdamW moments, float64 accumulator): on the CPU its activations (<see cref="ActivationBytes"/>); on a GPU,
    /// in device memory, the fp32 activations, the bf16 GEMM scratch, the batch's arrays, the bf16 copy of the
    /// weights, the norm's partial sums and cuBLASLt's workspace, exactly as the CUDA model allocates them.</summary>
    public static long WorkingBytes(Qwen2Config config, long tokens, bool cuda, int lossChunkTokens = 64)
    {
        NativeTrainerException.Check(TrainerImports.eng_config_working_bytes(out long bytes, Native(config, ComputeDType.Float32, lossChunkTokens), tokens,
            cuda ? EngDeviceKind.Cuda : EngDeviceKind.Cpu));
        return bytes;
    }

    private static EngModelConfig Native(Qwen2Config config, ComputeDType dtype, int lossChunkTokens) => new()
    {
        VocabSize = config.VocabSize, HiddenSize = config.HiddenSize, IntermediateSize = config.IntermediateSize,
        NumLayers = config.NumLayers, NumHeads = config.NumHeads, NumKvHeads = config.NumKeyValueHeads, HeadDim = config.HeadDim,
        TieWordEmbeddings = config.TieWordEmbeddings ? 1 : 0, RmsNormEps = config.RmsNormEps, RopeTheta = config.RopeTheta,
        ComputeDType = dtype == ComputeDType.Float64 ? (int)EngDType.F64 : (int)EngDType.F32, LossChunkTokens = lossChunkTokens,
    };

    private static EngAdamWOptions Native(AdamWOptions options, long step) => new()
    {
        Lr = options.Lr, Beta1 = options.Beta1, Beta2 = options.Beta2, Eps = options.Eps,
        WeightDecay = options.WeightDecay, MaxGradNorm = options.MaxGradNorm, Step = step,
    };

    private void Logits<T>(PackedBatch batch, Span<T> logits, EngDType dtype) where T : unmanaged
    {
        long expected = (long)batch.Tokens.Length * Config.VocabSize;
        if (logits.Length != expected)
            throw new ArgumentException($"logits span has {logits.Length} elements for {batch.Tokens.Length} tokens x {Config.VocabSize} vocabulary");
        using var pinned = new PinnedBatch(batch);
        fixed (T* out_ = logits)
            NativeTrainerException.Check(TrainerImports.eng_model_logits(out_, dtype, _model, pinned.Native, _context.Stream));
    }

    private BatchLoss Run(PackedBatch batch, double lossScale, bool backward, Span<float> tokenLosses)
    {
        if (!tokenLosses.IsEmpty && tokenLosses.Length != batch.Tokens.Length)
            throw new ArgumentException($"token losses span has {tokenLosses.Length} elements for {batch.Tokens.Length} tokens");
        using var pinned = new PinnedBatch(batch);
        fixed (float* losses = tokenLosses)
        {
            NativeTrainerException.Check(TrainerImports.eng_model_forward_backward(out double sum, out long scored,
                tokenLosses.IsEmpty ? null : losses, _model, pinned.Native, lossScale, backward ? 1 : 0, _context.Stream));
            return new BatchLoss(sum, scored);
        }
    }

    private void WriteTensor(ModelParameter p, byte* data, DType dtype, string path)
    {
        const long chunk = 1 << 22;
        switch (dtype)
        {
            case Core.DType.BF16:
            case Core.DType.F32:
                var native = dtype == Core.DType.BF16 ? EngDType.BF16 : EngDType.F32;
                NativeTrainerException.Check(TrainerImports.eng_model_write(_model, EngBuffer.Params, data, native, p.Offset, p.Count, _context.Stream));
                break;
            case Core.DType.F16:
                var buffer = new float[Math.Min(chunk, p.Count)];
                for (long i = 0; i < p.Count; i += chunk)
                {
                    int n = (int)Math.Min(chunk, p.Count - i);
                    DTypeConversion.ToSingle(new ReadOnlySpan<byte>(data + i * 2, n * 2), Core.DType.F16, buffer.AsSpan(0, n));
                    Write(EngBuffer.Params, buffer.AsSpan(0, n), p.Offset + i);
                }
                break;
            default:
                throw new ModelDirectoryException($"{path}: tensor '{p.Name}' is {dtype}; the trainer loads BF16, F16 or F32 weights");
        }
    }

    private void Write(EngBuffer buffer, ReadOnlySpan<float> values, long offset)
    {
        fixed (float* p = values)
            NativeTrainerException.Check(TrainerImports.eng_model_write(_model, buffer, p, EngDType.F32, offset, values.Length, _context.Stream));
    }

    private void Write(EngBuffer buffer, ReadOnlySpan<double> values, long offset)
    {
        fixed (double* p = values)
            NativeTrainerException.Check(TrainerImports.eng_model_write(_model, buffer, p, EngDType.F64, offset, values.Length, _context.Stream));
    }

    private void Read(Span<double> destination, EngBuffer buffer, long offset)
    {
        fixed (double* p = destination)
            NativeTrainerException.Check(TrainerImports.eng_model_read(p, EngDType.F64, _model, buffer, offset, destination.Length, _context.Stream));
    }

    private void Read(Span<float> destination, EngBuffer buffer, long offset)
    {
        fixed (float* p = destination)
            NativeTrainerException.Check(TrainerImports.eng_model_read(p, EngDType.F32, _model, buffer, offset, destination.Length, _context.Stream));
    }

    private static string TensorInfoShape(ImmutableArray<long> shape) => Core.Safetensors.TensorInfo.FormatShape(shape);

    /// <summary>A batch's arrays pinned for one native call, as the ABI's <see cref="EngBatch"/>.</summary>
    private ref struct PinnedBatch
    {
        private GCHandle _tokens, _labels, _docs;

        public PinnedBatch(PackedBatch batch)
        {
            _tokens = GCHandle.Alloc(batch.Tokens, GCHandleType.Pinned);
            _labels = GCHandle.Alloc(batch.Labels, GCHandleType.Pinned);
            _docs = GCHandle.Alloc(batch.DocumentLengths, GCHandleType.Pinned);
            Native = new EngBatch
            {
                Tokens = (int*)_tokens.AddrOfPinnedObject(), Labels = (int*)_labels.AddrOfPinnedObject(),
                DocLengths = (int*)_docs.AddrOfPinnedObject(), NumTokens = batch.Tokens.Length, NumDocs = batch.DocumentLengths.Length,
            };
        }

        public EngBatch Native { get; }

        public void Dispose()
        {
            _tokens.Free();
            _labels.Free();
            _docs.Free();
        }
    }
}
