using Engine.Core;

namespace Engine.Training;

/// <summary>A call into the native trainer failed: <see cref="Status"/> is its status code
/// (InvalidArgument, OutOfMemory, Unsupported, Internal) and the message is the native one.</summary>
public sealed class NativeTrainerException : EngineException
{
    public NativeTrainerException(string status, string call, string message)
        : base($"native trainer: {message} ({status} from {call})")
    {
        Status = status;
        Call = call;
    }

    public string Status { get; }

    /// <summary>The native function that failed.</summary>
    public string Call { get; }
}
