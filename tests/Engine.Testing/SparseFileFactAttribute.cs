using Xunit;

namespace Engine.Testing;

/// <summary>A fact that needs a file system able to create large sparse files (lengths past 2^31 bytes that
/// occupy no blocks until written); skipped, with the reason, where the temp folder cannot.</summary>
public sealed class SparseFileFactAttribute : FactAttribute
{
    /// <summary>Bytes the probe file claims: enough to need 64-bit lengths everywhere.</summary>
    public const long ProbeLength = (1L << 31) + (1L << 20);

    public SparseFileFactAttribute()
    {
        if (Probe() is { } reason) Skip = reason;
    }

    private static string? Probe()
    {
        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"engine-sparse-probe-{Guid.NewGuid():N}");
        try
        {
            using (var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite))
            {
                RandomAccess.SetLength(handle, ProbeLength);
                RandomAccess.Write(handle, new byte[] { 1 }, ProbeLength - 1);
            }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return $"the temp folder cannot hold a sparse {ProbeLength}-byte file: {e.Message}";
        }
        finally
        {
            try { File.Delete(path); } catch (IOException) { }
        }
    }
}
