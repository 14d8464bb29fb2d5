using Engine.Core.Model;

namespace Engine.Merge.Execution;

/// <summary>Reads the next tensor's input pages into the page cache while the current tensor computes, so
/// disk reads overlap the kernels (the mapping itself would fault them in one page-cluster at a time).</summary>
internal static class InputPrefetcher
{
    private const int PageSize = 4096;

    /// <summary>Touches one byte per page of <paramref name="tensorName"/> in every model. A cancelled
    /// prefetch just stops: it is only ever a head start.</summary>
    public static unsafe void Touch(IReadOnlyList<ModelDirectory> models, string tensorName, CancellationToken cancellation)
    {
        foreach (var model in models)
        {
            if (!model.TryGetTensor(tensorName, out var tensor) || tensor.Info.ByteLength == 0) continue;
            using var view = tensor.Map();
            byte sink = 0;
            for (long at = 0; at < view.ByteLength; at += PageSize)
            {
                if ((at & ((1 << 24) - 1)) == 0 && cancellation.IsCancellationRequested) return;
                sink ^= view.Pointer[at];
            }
            GC.KeepAlive(sink);
        }
    }
}
