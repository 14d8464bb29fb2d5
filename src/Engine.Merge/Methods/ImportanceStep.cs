using Engine.Core.Numerics;
using Engine.Kernels;

namespace Engine.Merge.Methods;

/// <summary>The part of Arcee Fusion's merge of one tensor pair that does not depend on lambda: the importance
/// (kept where the backend computed it), each row's KL and the three quartiles. A lambda sweep computes it once and
/// derives each lambda's threshold and selection from it.</summary>
internal sealed class ImportanceStep(IImportance importance, NativeArray<float> host, double[] rowKl, float q25, float q50, float q75) : IDisposable
{
    public IImportance Importance { get; } = importance;
    public double[] RowKl { get; } = rowKl;
    public float Q25 { get; } = q25;
    public float Q50 { get; } = q50;
    public float Q75 { get; } = q75;

    public void Dispose()
    {
        Importance.Dispose();
        host.Dispose();
    }
}
