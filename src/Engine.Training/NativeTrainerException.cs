using System.Runtime.CompilerServices;
using Engine.Core;
using Engine.Interop.Trainer;

namespace Engine.Training;

/// <summary>A call into the native trainer failed: <see cref="Status"/> is its status code
/// (InvalidArgument, OutOfMemory, Unsupported, Internal) and the message is the native one.</summary>
public sealed class NativeTrainerException : EngineException
{
    /// <summary>A failure of <paramref name="call"/> with native <paramref name="status"/> and <paramref name="message"/>.</summary>
    public NativeTrainerException(string status, string call, string message)
        : base($"native trainer: {message} ({status} from {call})")
    {
        Status = status;
        Call = call;
    }

    /// <summary>The native status code's name (InvalidArgument, OutOfMemory, Unsupported, Internal).</summary>
    public string Status { get; }

    /// <summary>The native function that failed.</summary>
    public string Call { get; }

    /// <summary>Throws with the native message when <paramref name="status"/> is not Ok; <see cref="Call"/> is
    /// the call as written up to its argument list, e.g. <c>TrainerImports.eng_model_create</c>.</summary>
    internal static void Check(EngStatus status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status == EngStatus.Ok) return;
        int paren = call.IndexOf('(');
        throw new NativeTrainerException(status.ToString(), paren > 0 ? call[..paren] : call, TrainerImports.LastError());
    }
}
