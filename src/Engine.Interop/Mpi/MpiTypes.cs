using System.Runtime.InteropServices;

namespace Engine.Interop.Mpi;

// The enums and structs of native/include/engine_mpi.h, field for field.

internal enum EngMpiStatus
{
    Ok = 0,
    InvalidArgument = 1,
    Mpi = 2,
}

internal enum EngMpiDType
{
    F32 = 0,
    F64 = 1,
    I64 = 2,
    U8 = 3,
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EngMpiWorld
{
    public int Rank;
    public int Size;
    public int LocalRank;
    public int LocalSize;
    public int ThreadLevel;
    public int SharedMemory;
    public fixed byte Host[256];
}
