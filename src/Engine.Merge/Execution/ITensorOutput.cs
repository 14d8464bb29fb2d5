using Engine.Core;
using Engine.Core.Numerics;

namespace Engine.Merge.Execution;

/// <summary>Where a merged tensor goes. The method fills it in chunks, so the final output of a large
/// tensor never has to exist in memory whole: each chunk is written to its shard as soon as it is full.</summary>
public interface ITensorOutput
{
    /// <summary>The dtype the output stores; the method's float32 results are rounded to it when written.</summary>
    DType DType { get; }

    /// <summary>Elements.</summary>
    long Length { get; }

    /// <summary>Calls <paramref name="produce"/>(chunk, start) for consecutive chunks covering the tensor;
    /// the producer fills <c>chunk</c> (in <see cref="DType"/>) with elements [start, start + chunk.Length).</summary>
    void Fill(Action<RawTensor, long> produce, CancellationToken cancellation);
}
