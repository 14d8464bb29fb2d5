namespace Engine.Kernels;

/// <summary>Host memory copies into and out of staging buffers, split over threads in 4 MiB parts: one core
/// cannot fill a PCIe link from pageable (or memory-mapped, not yet resident) memory.</summary>
internal static unsafe class HostMemoryCopy
{
    public static void Copy(byte* destination, byte* source, long bytes, int threads)
    {
        const long part = 4L << 20;
        long parts = (bytes + part - 1) / part;
        if (parts <= 1 || threads <= 1)
        {
            Buffer.MemoryCopy(source, destination, bytes, bytes);
            return;
        }
        Parallel.For(0L, parts, new ParallelOptions { MaxDegreeOfParallelism = threads }, p =>
        {
            long begin = p * part, length = Math.Min(part, bytes - begin);
            Buffer.MemoryCopy(source + begin, destination + begin, length, length);
        });
    }
}
