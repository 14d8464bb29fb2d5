using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Interop.Cuda;

/// <summary>A CUDA driver call failed: carries the status, the driver's name and text for it, and the call
/// as written at the call site.</summary>
public sealed class CudaException : Exception
{
    /// <summary><paramref name="call"/> returned <paramref name="result"/>.</summary>
    public CudaException(CudaResult result, string call)
        : base($"{call} failed: {Describe(result)}")
    {
        Result = result;
        Call = call;
    }

    /// <summary>The driver's status code.</summary>
    public CudaResult Result { get; }

    /// <summary>The failed call's source text, e.g. <c>cuMemAlloc(out pointer, bytes)</c>.</summary>
    public string Call { get; }

    /// <summary>Throws unless <paramref name="result"/> is <see cref="CudaResult.Success"/>.</summary>
    public static void Check(CudaResult result, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != CudaResult.Success) throw new CudaException(result, call);
    }

    private static string Describe(CudaResult result)
    {
        try
        {
            string name = CudaDriverImports.cuGetErrorName(result, out nint n) == CudaResult.Success && n != 0 ? Marshal.PtrToStringUTF8(n) ?? "" : result.ToString();
            string text = CudaDriverImports.cuGetErrorString(result, out nint t) == CudaResult.Success && t != 0 ? Marshal.PtrToStringUTF8(t) ?? "" : "";
            return text.Length > 0 ? $"{name} ({(int)result}): {text}" : $"{name} ({(int)result})";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return $"{result} ({(int)result})";
        }
    }
}
