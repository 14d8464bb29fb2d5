using Engine.Core.Model;

namespace Engine.Merge.Execution;

/// <summary>Reads the next tensor's input bytes into the page cache while the current tensor computes, so disk
/// reads overlap the kernels and the tensor's own read later copies from memory.</summary>
internal static class InputPrefetcher
{
    /// <summary>Large enough for the disk's read-ahead to stream, small enough to stay in the CPU caches.</summary>
    private const int BufferBytes = 1 << 20;

    /// <summary>Reads the given tensors (<see cref="MergePlan.Reads"/>) and discards the bytes. A cancelled prefetch
    /// just stops: it is only ever a head start. A change to an input is left for the tensor's own read to
    /// report, with the tensor that needed it.</summary>
    public static void Touch(IEnumerable<(ModelDirectory Model, string Tensor)> reads, CancellationToken cancellation)
    {
        var buffer = new byte[BufferBytes];
        foreach (var (model, tensorName) in reads)
        {
            if (!model.TryGetTensor(tensorName, out var tensor) || tensor.Info.ByteLength == 0) continue;
            try
            {
                tensor.File.Prefetch(tensor.Info, buffer, cancellation);
            }
            catch (Core.EngineException)
            {
                return;
            }
        }
    }
}
