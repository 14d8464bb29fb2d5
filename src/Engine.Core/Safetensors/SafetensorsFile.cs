using System.Buffers.Binary;
using Engine.Core.Numerics;
using Microsoft.Win32.SafeHandles;

namespace Engine.Core.Safetensors;

/// <summary>An open, validated safetensors file whose tensors are copied out with positional reads, one tensor
/// at a time, so resident memory follows the tensors in use rather than the file.</summary>
/// <remarks>
/// Tensors are read, never memory-mapped: a mapped page past the end of a file that another process truncated
/// raises SIGBUS, which .NET turns into an AccessViolationException it cannot catch (the process died with
/// exit 134). A read of a truncated file just comes back short. The file's length and modification time are
/// recorded at open; every read and <see cref="CheckUnchanged"/> compare them, through the open handle and
/// through the path (which another file may have replaced), and report a change as an
/// <see cref="InputChangedException"/>, so an output is never built from two versions of an input.
/// </remarks>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Above this a tensor is read in parallel chunks: one thread copies from the page cache at a
    /// fraction of memory bandwidth.</summary>
    private const int ParallelChunk = 16 << 20;

    private readonly SafeFileHandle _handle;
    private readonly DateTime _modified;

    private SafetensorsFile(string path, SafeFileHandle handle, long length, DateTime modified, SafetensorsHeader header)
    {
        Path = path;
        _handle = handle;
        Length = length;
        _modified = modified;
        Header = header;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>The file's length when it was opened.</summary>
    public long Length { get; }
    /// <summary>The validated header.</summary>
    public SafetensorsHeader Header { get; }
    /// <summary>The tensors, in data order.</summary>
    public IReadOnlyList<TensorInfo> Tensors => Header.Tensors;

    /// <summary>Opens and validates <paramref name="path"/>; throws <see cref="SafetensorsFormatException"/>
    /// naming the file and the problem.</summary>
    public static SafetensorsFile Open(string path)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelDirectoryException($"{path}: cannot open: {e.Message}", e);
        }
        try
        {
            long length = RandomAccess.GetLength(handle);
            var modified = File.GetLastWriteTimeUtc(handle);
            Span<byte> prefix = stackalloc byte[8];
            int got = length >= 8 ? RandomAccess.Read(handle, prefix, 0) : 0;
            ulong declared = got == 8 ? BinaryPrimitives.ReadUInt64LittleEndian(prefix) : 0;
            long headerLength = SafetensorsHeader.ValidateHeaderLength(path, declared, got == 8 ? length : Math.Min(length, 7));
            var json = new byte[headerLength];
            for (int done = 0; done < json.Length;)
            {
                int n = RandomAccess.Read(handle, json.AsSpan(done), 8 + done);
                if (n <= 0) throw new SafetensorsFormatException(path, "file ended while reading the header");
                done += n;
            }
            var header = SafetensorsHeader.Parse(path, json, length - 8 - headerLength);
            return new SafetensorsFile(path, handle, length, modified, header);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Copies one tensor's bytes into memory of its own (from <paramref name="scratch"/> when given).
    /// Dispose the result to release it.</summary>
    public unsafe TensorBytes Read(TensorInfo tensor, ScratchArena? scratch = null)
    {
        CheckOwn(tensor);
        var bytes = scratch?.RentInput(tensor.ByteLength) ?? new NativeArray<byte>(tensor.ByteLength);
        try
        {
            long start = Header.DataStart + tensor.DataBegin;
            long chunks = (tensor.ByteLength + ParallelChunk - 1) / ParallelChunk;
            if (chunks <= 1) ReadExactly(tensor, start, new Span<byte>(bytes.Pointer, (int)tensor.ByteLength));
            else
            {
                nint destination = (nint)bytes.Pointer;
                Parallel.For(0, chunks, c =>
                {
                    long at = c * ParallelChunk;
                    ReadExactly(tensor, start + at, new Span<byte>((byte*)destination + at, (int)Math.Min(ParallelChunk, tensor.ByteLength - at)));
                });
            }
            CheckUnchanged();
            return new TensorBytes(tensor, bytes);
        }
        catch (AggregateException e) when (e.InnerException is EngineException inner)
        {
            bytes.Dispose();
            throw inner;
        }
        catch
        {
            bytes.Dispose();
            throw;
        }
    }

    /// <summary>Copies a byte range of a tensor with positional reads, for callers that stream.</summary>
    public void ReadBytes(TensorInfo tensor, long byteOffset, Span<byte> destination)
    {
        CheckOwn(tensor);
        if (byteOffset < 0 || byteOffset > tensor.ByteLength - destination.Length)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"read of {destination.Length} bytes at {byteOffset} is outside tensor '{tensor.Name}' ({tensor.ByteLength} bytes)");
        ReadExactly(tensor, Header.DataStart + tensor.DataBegin + byteOffset, destination);
        CheckUnchanged();
    }

    /// <summary>Reads a tensor's byte range into the page cache and discards it: a prefetch ahead of
    /// <see cref="Read"/>. Stops early when <paramref name="cancellation"/> is set.</summary>
    public void Prefetch(TensorInfo tensor, Span<byte> buffer, CancellationToken cancellation)
    {
        CheckOwn(tensor);
        long start = Header.DataStart + tensor.DataBegin;
        // The kernel's read-ahead copies nothing into this process; reading into a throwaway buffer is the fallback.
        if (Engine.Interop.Posix.PosixFileSystem.TryAdviseWillNeed(_handle, start, tensor.ByteLength)) return;
        for (long at = 0; at < tensor.ByteLength && !cancellation.IsCancellationRequested; at += buffer.Length)
            ReadExactly(tensor, start + at, buffer[..(int)Math.Min(buffer.Length, tensor.ByteLength - at)]);
    }

    /// <summary>Throws <see cref="InputChangedException"/> when the file was truncated, rewritten or replaced
    /// since it was opened: its length or modification time differ, through the open handle or the path.</summary>
    public void CheckUnchanged()
    {
        long now = RandomAccess.GetLength(_handle);
        if (now != Length) throw new InputChangedException(Path, $"its length went from {Length} to {now} bytes");
        if (File.GetLastWriteTimeUtc(_handle) != _modified) throw new InputChangedException(Path, "it was rewritten");
        if (OpenFiles.IsUnlinked(_handle)) throw new InputChangedException(Path, "it was deleted, or another file replaced it");
        try
        {
            // Opened, not stat'ed, so that a symbolic link (the Hugging Face cache's shards) is followed.
            using var named = File.OpenHandle(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (RandomAccess.GetLength(named) != Length || File.GetLastWriteTimeUtc(named) != _modified)
                throw new InputChangedException(Path, "another file replaced it");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputChangedException(Path, $"it can no longer be opened by its name ({e.Message})");
        }
    }

    private void ReadExactly(TensorInfo tensor, long position, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int n = RandomAccess.Read(_handle, destination, position);
            if (n <= 0)
            {
                // The header promised these bytes when the file was opened, so a short read means it changed.
                CheckUnchanged();
                throw new SafetensorsFormatException(Path, $"file ended while reading tensor '{tensor.Name}'");
            }
            destination = destination[n..];
            position += n;
        }
    }

    private void CheckOwn(TensorInfo tensor)
    {
        if (!Header.TryGet(tensor.Name, out var own) || own != tensor)
            throw new ArgumentException($"tensor '{tensor.Name}' does not belong to {Path}", nameof(tensor));
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _handle.Dispose();
}
