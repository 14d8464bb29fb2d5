using System.Runtime.InteropServices;

namespace Engine.Interop.Trainer;

/// <summary>The imports of <c>native/include/engine_native.h</c>, one to one. Internal: Engine.Training wraps
/// them (<c>ComputeContext</c>, <c>Qwen2Model</c>) and turns a status other than <see cref="EngStatus.Ok"/>
/// into its typed exception with <see cref="LastError"/>.</summary>
internal static unsafe partial class TrainerImports
{
    /// <summary>Found by the runtime's default probing: the build copies the library next to the assemblies
    /// of every project that references Engine.Training (see its BuildNativeTrainer target).</summary>
    public const string Library = "engine_native";

    [LibraryImport(Library)]
    public static partial int eng_abi_version();

    [LibraryImport(Library)]
    public static partial int eng_last_error(byte* buf, int len);

    [LibraryImport(Library)]
    public static partial EngStatus eng_context_create(out ContextHandle ctx, in EngContextOptions options);

    [LibraryImport(Library)]
    public static partial void eng_context_destroy(IntPtr ctx);

    [LibraryImport(Library)]
    public static partial EngStatus eng_stream_create(out StreamHandle stream, ContextHandle ctx);

    [LibraryImport(Library)]
    public static partial EngStatus eng_stream_synchronize(StreamHandle stream);

    [LibraryImport(Library)]
    public static partial void eng_stream_destroy(IntPtr stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_stream_native_handle(out IntPtr native, StreamHandle stream);

    [LibraryImport(Library)]
    public static partial int eng_op_check_count();

    [LibraryImport(Library)]
    public static partial EngStatus eng_context_check_op(out EngOpCheck check, ContextHandle ctx, int index, ulong seed);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_create(out ModelHandle model, ContextHandle ctx, in EngModelConfig config);

    [LibraryImport(Library)]
    public static partial void eng_model_destroy(IntPtr model);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_num_params(out long count, ModelHandle model);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_tensor_count(out int count, ModelHandle model);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_tensor_info(out EngTensorInfo info, ModelHandle model, int index);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_write(ModelHandle model, EngBuffer buffer, void* src, EngDType srcDType,
        long offset, long count, StreamHandle stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_read(void* dst, EngDType dstDType, ModelHandle model, EngBuffer buffer,
        long offset, long count, StreamHandle stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_zero_grads(ModelHandle model, StreamHandle stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_forward_backward(out double lossSum, out long validTokens, float* tokenLosses,
        ModelHandle model, in EngBatch batch, double lossScale, int backward, StreamHandle stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_logits(void* logits, EngDType logitsDType, ModelHandle model, in EngBatch batch, StreamHandle stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_decoder_create(out DecoderHandle decoder, ModelHandle model, int maxSequences, int maxTokens);

    [LibraryImport(Library)]
    public static partial void eng_decoder_destroy(IntPtr decoder);

    [LibraryImport(Library)]
    public static partial EngStatus eng_decoder_reset(DecoderHandle decoder);

    [LibraryImport(Library)]
    public static partial EngStatus eng_decoder_append(void* logits, EngDType logitsDType, int* nextTokens, DecoderHandle decoder,
        int* tokens, int* counts, int numSequences, StreamHandle stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_decoder_length(out int length, DecoderHandle decoder, int sequence);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_adamw_step(out double gradNorm, ModelHandle model, in EngAdamWOptions options,
        StreamHandle stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_set_optimizer_range(ModelHandle model, long offset, long count);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_optimizer_range(out long offset, out long count, ModelHandle model);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_buffer_data(out void* data, ModelHandle model, EngBuffer buffer);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_grad_accumulator(out double* data, ModelHandle model);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_accumulate_grads(ModelHandle model, StreamHandle stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_flush_grads(ModelHandle model, long offset, long count, StreamHandle stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_grad_sqnorm(out double sumOfSquares, ModelHandle model, long offset, long count, StreamHandle stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_adamw_update(ModelHandle model, in EngAdamWOptions options, double gradScale, long offset, long count,
        StreamHandle stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_config_activation_bytes(out long bytes, in EngModelConfig config, long numTokens);

    [LibraryImport(Library)]
    public static partial void eng_abi_struct_sizes(out EngAbiSizes sizes);

    [LibraryImport(Library)]
    public static partial EngStatus eng_context_make_current(ContextHandle ctx);

    [LibraryImport(Library)]
    public static partial EngStatus eng_config_working_bytes(out long bytes, in EngModelConfig config, long numTokens, EngDeviceKind deviceKind);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_set_profiling(ModelHandle model, int enabled, StreamHandle stream);

    [LibraryImport(Library)]
    public static partial EngStatus eng_model_profile_read(EngProfileRecord* records, out int count, ModelHandle model, int capacity, StreamHandle stream);

    /// <summary>The message of the calling thread's last failed call (empty when none), through the
    /// caller-owned-buffer protocol of <c>eng_last_error</c>.</summary>
    public static string LastError()
    {
        int length = eng_last_error(null, 0);
        var buffer = new byte[length + 1];
        fixed (byte* p = buffer) eng_last_error(p, buffer.Length);
        return System.Text.Encoding.UTF8.GetString(buffer, 0, length);
    }
}
