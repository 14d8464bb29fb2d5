namespace Engine.Merge.Tests;

/// <summary>Reaches the internal KL term function for its accuracy test.</summary>
internal static class RowImportanceCpuAccess
{
    public static void KlTerms(Span<float> f, ReadOnlySpan<float> u) => Engine.Kernels.Cpu.RowImportanceCpu.KlTerms(f, u);
}
