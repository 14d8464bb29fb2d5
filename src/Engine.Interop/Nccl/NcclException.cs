using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Interop.Nccl;

/// <summary>NCCL is missing, or an NCCL call failed: carries the status (when a call failed), NCCL's text for it and
/// its last error message, and the call as written at the call site.</summary>
public sealed class NcclException : Exception
{
    /// <summary>NCCL cannot be used at all (the library is missing or too old); <paramref name="message"/> says why.</summary>
    public NcclException(string message) : base(message) { }

    /// <summary><paramref name="call"/> returned <paramref name="result"/>; <paramref name="detail"/> is NCCL's own text, appended.</summary>
    public NcclException(NcclResult result, string call, string detail)
        : base($"{call} failed: {result} ({(int)result}){detail}")
    {
        Result = result;
        Call = call;
    }

    /// <summary>The failed call's status; <see cref="NcclResult.Success"/> when the library was not found.</summary>
    public NcclResult Result { get; }

    /// <summary>The failed call's source text, e.g. <c>ncclCommInitRank(out comm, ranks, id, rank)</c>.</summary>
    public string Call { get; } = "";

    /// <summary>Throws unless <paramref name="result"/> is <see cref="NcclResult.Success"/>; the message adds NCCL's
    /// description of the status and the last error it recorded.</summary>
    internal static void Check(NcclResult result, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != NcclResult.Success) throw new NcclException(result, call, Describe(result));
    }

    private static string Describe(NcclResult result)
    {
        try
        {
            string text = Marshal.PtrToStringUTF8(NcclImports.ncclGetErrorString(result)) ?? "";
            // NCCL keeps the last failure's message per process; a null communicator asks for that one.
            string last = Marshal.PtrToStringUTF8(NcclImports.ncclGetLastError(0)) ?? "";
            string detail = string.Join("; ", new[] { text, last }.Where(s => s.Length > 0)).ReplaceLineEndings(" ");
            return detail.Length > 0 ? $": {detail}" : "";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return "";
        }
    }
}
