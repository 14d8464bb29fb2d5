using System.Runtime.InteropServices;

namespace Engine.Interop.Nccl;

/// <summary>An <c>ncclComm_t</c>; releasing it calls <c>ncclCommDestroy</c>, which waits for the communicator's
/// queued work. After a failure, <c>ncclCommAbort</c> ends it instead (it does not wait); then mark the handle invalid.</summary>
internal sealed class NcclCommHandle : SafeHandle
{
    public NcclCommHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => NcclImports.ncclCommDestroy(handle) == NcclResult.Success;
}
