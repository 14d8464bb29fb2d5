namespace Engine.Kernels.Device;

/// <summary>Host/device transfers of arbitrary (pageable, possibly memory-mapped) host memory through two
/// page-locked staging buffers, written once for every GPU backend: while the DMA engine copies one chunk, the
/// CPU fills or drains the other, so host copies and PCIe transfers overlap. A backend supplies the two pinned
/// buffers and the asynchronous copies between a buffer and device memory (<typeparamref name="TDevice"/>: its
/// device buffer type); the chunking and the order of waits live here.</summary>
internal abstract unsafe class DoubleBufferedStaging<TDevice> : IDisposable
{
    private readonly int _threads;

    private protected DoubleBufferedStaging(long chunk, int threads)
    {
        Chunk = chunk;
        _threads = Math.Max(1, threads);
    }

    /// <summary>Bytes per staging buffer.</summary>
    public long Chunk { get; }

    /// <summary>The start of staging buffer <paramref name="slot"/> (0 or 1), <see cref="Chunk"/> bytes.</summary>
    private protected abstract byte* Pinned(int slot);

    /// <summary>Waits until the last copy queued from or into staging buffer <paramref name="slot"/> has finished.</summary>
    private protected abstract void WaitFor(int slot);

    /// <summary>Queues the copy of <paramref name="length"/> bytes of staging buffer <paramref name="slot"/> to
    /// <paramref name="destination"/> at byte <paramref name="offset"/>.</summary>
    private protected abstract void QueueToDevice(TDevice destination, long offset, int slot, long length);

    /// <summary>Queues the copy of <paramref name="length"/> bytes of <paramref name="source"/> from byte
    /// <paramref name="offset"/> into staging buffer <paramref name="slot"/>.</summary>
    private protected abstract void QueueToHost(int slot, TDevice source, long offset, long length);

    /// <summary>Copies <paramref name="bytes"/> from <paramref name="source"/> to the device buffer at
    /// <paramref name="offset"/>; returns once the host memory may be reused (the last chunk staged, not
    /// necessarily copied).</summary>
    private protected void UploadChunks(TDevice destination, long offset, byte* source, long bytes)
    {
        int slot = 0;
        for (long done = 0; done < bytes; done += Chunk, slot ^= 1)
        {
            long length = Math.Min(Chunk, bytes - done);
            WaitFor(slot);
            HostMemoryCopy.Copy(Pinned(slot), source + done, length, _threads);
            QueueToDevice(destination, offset + done, slot, length);
        }
    }

    /// <summary>Copies <paramref name="bytes"/> of the device buffer from <paramref name="offset"/> to
    /// <paramref name="destination"/>, the next chunk's copy queued while the CPU drains this one; returns when
    /// the host memory holds them.</summary>
    private protected void DownloadChunks(byte* destination, TDevice source, long offset, long bytes)
    {
        long chunks = (bytes + Chunk - 1) / Chunk;
        if (chunks == 0) return;
        Queue(0);
        for (long c = 0; c < chunks; c++)
        {
            if (c + 1 < chunks) Queue(c + 1);
            int slot = (int)(c & 1);
            WaitFor(slot);
            HostMemoryCopy.Copy(destination + c * Chunk, Pinned(slot), Math.Min(Chunk, bytes - c * Chunk), _threads);
        }

        void Queue(long c) => QueueToHost((int)(c & 1), source, offset + c * Chunk, Math.Min(Chunk, bytes - c * Chunk));
    }

    public abstract void Dispose();
}
