using System.Runtime.InteropServices;

namespace Engine.Interop.Trainer;

// The enums and structs of native/include/engine_native.h, field for field; the C ABI is the contract.

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

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngOpCheck
{
    public fixed byte Op[32];
    public double ForwardMaxAbsError;
    public double ForwardMaxRelError;
    public double BackwardMaxAbsError;
    public double BackwardMaxRelError;
    public double Tolerance;
    public int Passed;
}

[StructLayout(LayoutKind.Sequential)]
internal struct EngAbiSizes
{
    public int ContextOptions;
    public int ModelConfig;
    public int Batch;
    public int AdamWOptions;
    public int TensorInfo;
    public int OpCheck;
    public int ProfileRecord;
}

/// <summary><c>eng_profile_pass</c>: which part of a step a profiled op belongs to.</summary>
internal enum EngProfilePass
{
    Forward = 0,
    Backward = 1,
    Loss = 2,
    Optimizer = 3,
}

/// <summary><c>eng_profile_record</c>: one timed op (CPU) or kernel launch (CUDA).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngProfileRecord
{
    public fixed byte Op[32];
    public int Layer;
    public int Pass;
    public double StartMicroseconds;
    public double DurationMicroseconds;
}
