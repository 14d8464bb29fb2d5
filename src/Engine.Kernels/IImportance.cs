using Engine.Core.Numerics;

namespace Engine.Kernels;

/// <summary>Arcee Fusion's importance of one tensor pair, kept where the backend computed it (with both inputs),
/// so that the quartiles and the selection that follow move no importance or input bytes between host and
/// device: a GPU backend uploads each input once and downloads only the merged output, where the three separate
/// kernel calls move about 3.7 times as many bytes for bf16 inputs. Made by
/// <see cref="IMergeKernels.ComputeImportance"/>; results equal those of the separate calls bit for bit. A GPU
/// backend is held by its open importance until it is disposed (calls from other threads wait), so dispose it
/// on the thread that made it, and open at most one per backend at a time.</summary>
public interface IImportance : IDisposable
{
    /// <summary>Elements of the tensor pair.</summary>
    long Length { get; }

    /// <summary><see cref="IMergeKernels.SelectRanks"/> over the importance.</summary>
    void SelectRanks(Span<float> results, ReadOnlySpan<long> ranks);

    /// <summary><see cref="IMergeKernels.MaskedSelect"/> of elements <c>[start, start + output.Length)</c> of the
    /// pair into <paramref name="output"/>; returns how many came from other.</summary>
    long MaskedSelect(RawTensor output, long start, float threshold);

    /// <summary>The importance in host memory: the array given to <see cref="IMergeKernels.ComputeImportance"/>,
    /// filled on the first call where the importance lives on a device or is recomputed rather than stored (sampled
    /// quantiles and tests need it).</summary>
    NativeArray<float> ToHost();
}
