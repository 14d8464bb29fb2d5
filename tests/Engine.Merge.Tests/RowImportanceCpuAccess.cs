using System.Runtime.Intrinsics;

namespace Engine.Merge.Tests;

/// <summary>Reaches the internal KL term function for its accuracy test.</summary>
internal static class RowImportanceCpuAccess
{
    public static void KlTerms(Span<float> f, ReadOnlySpan<float> u)
    {
        for (int i = 0; i < u.Length; i++) f[i] = Engine.Kernels.Cpu.RowImportanceCpu.KlTerm(Vector256.Create(u[i])).GetElement(0);
    }
}
