using System.Runtime.InteropServices;

namespace Engine.Interop.Trainer;

/// <summary>An <c>eng_context*</c>.</summary>
internal sealed class ContextHandle : SafeHandle
{
    public ContextHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle()
    {
        TrainerImports.eng_context_destroy(handle);
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
        TrainerImports.eng_stream_destroy(handle);
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
        TrainerImports.eng_model_destroy(handle);
        return true;
    }
}

/// <summary>An <c>eng_decoder*</c>; released before its model (the owner disposes it first).</summary>
internal sealed class DecoderHandle : SafeHandle
{
    public DecoderHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle()
    {
        TrainerImports.eng_decoder_destroy(handle);
        return true;
    }
}
