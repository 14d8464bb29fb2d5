using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Training.Native;

// The imports of native/include/engine_native.h, one to one. DESIGN.md puts every LibraryImport in
// src/Engine.Interop; that project is being created on another branch, so these live here until they move.

internal enum EngStatus
{
    Ok = 0,
    InvalidArgument = 1,
    OutOfMemory = 2,
    Unsupported = 3,
    Internal = 4,
}

internal enum EngDeviceKind
{
    Cpu = 0,
    Cuda = 1,
}

internal enum EngDType
{
    F32 = 0,
    F64 = 1,
    BF16 = 2,
}

internal enum EngBuffer
{
    Params = 0,
    Grads = 1,
    AdamM = 2,
    AdamV = 3,
}

[StructLayout(LayoutKind.Sequential)]
internal struct EngContextOptions
{
    public int DeviceKind;
    public int DeviceOrdinal;
    public int NumThreads;
}

[StructLayout(LayoutKind.Sequential)]
internal struct EngModelConfig
{
    public int VocabSize;
    public int HiddenSize;
    public int IntermediateSize;
    public int NumLayers;
    public int NumHeads;
    public int NumKvHeads;
    public int HeadDim;
    public int TieWordEmbeddings;
    public double RmsNormEps;
    public double RopeTheta;
    public int ComputeDType;
    public int LossChunkTokens;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngBatch
{
    public int* Tokens;
    public int* Labels;
    public int* DocLengths;
    public int NumTokens;
    public int NumDocs;
}

[StructLayout(LayoutKind.Sequential)]
internal struct EngAdamWOptions
{
    public double Lr;
    public double Beta1;
    public double Beta2;
    public double Eps;
    public double WeightDecay;
    public double MaxGradNorm;
    public long Step;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngTensorInfo
{
    public fixed byte Name[96];
    public long Offset;
    public long Numel;
    public int NDim;
    public fixed int Shape[2];
    public int WeightDecay;
}

/// <summary>An <c>eng_context*</c>.</summary>
internal sealed class ContextHandle : SafeHandle
{
    public ContextHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle()
    {
        NativeMethods.eng_context_destroy(handle);
        return true;
    }
}

/// <summary>An <c>eng_stream*</c>.</summary>
internal sealed class StreamHandle : SafeHandle
{
    public StreamHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle()
    {
        NativeMethods.eng_stream_destroy(handle);
        return true;
    }
}

/// <summary>An <c>eng_model*</c>.</summary>
internal sealed class ModelHandle : SafeHandle
{
    public ModelHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle()
    {
        NativeMethods.eng_model_destroy(handle);
        return true;
    }
}

internal static unsafe partial class NativeMethods
{
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
    public static partial EngStatus eng_model_adamw_step(out double gradNorm, ModelHandle model, in EngAdamWOptions options,
        StreamHandle stream);

    /// <summary>Throws <see cref="NativeTrainerException"/> with the native message when a call failed.</summary>
    public static void Check(EngStatus status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status == EngStatus.Ok) return;
        int length = eng_last_error(null, 0);
        var buffer = new byte[length + 1];
        fixed (byte* p = buffer) eng_last_error(p, buffer.Length);
        string message = System.Text.Encoding.UTF8.GetString(buffer, 0, length);
        int paren = call.IndexOf('(');
        throw new NativeTrainerException(status.ToString(), paren > 0 ? call[..paren] : call, message);
    }
}
