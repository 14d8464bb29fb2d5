using Engine.Core.Numerics;

namespace Engine.Kernels;

/// <summary>The argument checks of every backend's <see cref="IMergeKernels.RowImportance"/> and of every
/// <see cref="IImportance"/>'s selection.</summary>
internal static class ImportanceShapes
{
    /// <summary>other, base and importance hold rowKl.Length rows of <paramref name="rowLength"/> elements.</summary>
    public static void Check(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength)
    {
        long rows = rowKl.Length;
        if (rowLength <= 0 || other.Length != rows * rowLength || @base.Length != other.Length || importance.Length != other.Length)
            throw new ArgumentException($"shapes disagree: rows {rows} x {rowLength}, other {other.Length}, base {@base.Length}, importance {importance.Length}");
    }

    /// <summary>Elements [start, start + count) lie within a tensor of <paramref name="length"/> elements.</summary>
    public static void CheckChunk(long start, long count, long length)
    {
        if (start < 0 || start + count > length)
            throw new ArgumentOutOfRangeException(nameof(start), $"[{start}, {start + count}) outside [0, {length})");
    }

    /// <summary>The arguments of a one-call <see cref="IMergeKernels.MaskedSelect"/>: other and base hold the output's
    /// n elements, and importance elements [start, start + n).</summary>
    public static void CheckMaskedSelect(RawTensor output, RawTensor other, RawTensor @base, NativeArray<float> importance, long start)
    {
        long n = output.Length;
        if (other.Length != n || @base.Length != n || start < 0 || start + n > importance.Length)
            throw new ArgumentException("masked select ranges disagree");
    }
}
