using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using Microsoft.Win32.SafeHandles;

namespace Engine.Core.Safetensors;

/// <summary>An open, validated safetensors file whose tensors are memory-mapped on demand, one view per
/// tensor, so resident memory follows the tensors in use rather than the file.</summary>
public sealed class SafetensorsFile : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly Lazy<MemoryMappedFile> _mapping;

    private SafetensorsFile(string path, SafeFileHandle handle, long length, SafetensorsHeader header)
    {
        Path = path;
        _handle = handle;
        Length = length;
        Header = header;
        _mapping = new Lazy<MemoryMappedFile>(() => MemoryMappedFile.CreateFromFile(
            _handle, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true));
    }

    public string Path { get; }
    public long Length { get; }
    public SafetensorsHeader Header { get; }
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
            return new SafetensorsFile(path, handle, length, header);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Maps the bytes of one tensor read-only. Dispose the view to release its pages.</summary>
    public TensorView Map(TensorInfo tensor)
    {
        if (!Header.TryGet(tensor.Name, out var own) || own != tensor)
            throw new ArgumentException($"tensor '{tensor.Name}' does not belong to {Path}", nameof(tensor));
        if (tensor.ByteLength == 0) return TensorView.Empty(tensor);
        var accessor = _mapping.Value.CreateViewAccessor(Header.DataStart + tensor.DataBegin, tensor.ByteLength, MemoryMappedFileAccess.Read);
        return new TensorView(tensor, accessor);
    }

    /// <summary>Copies a byte range of a tensor with positional reads (no mapping), for callers that stream.</summary>
    public void ReadBytes(TensorInfo tensor, long byteOffset, Span<byte> destination)
    {
        if (!Header.TryGet(tensor.Name, out var own) || own != tensor)
            throw new ArgumentException($"tensor '{tensor.Name}' does not belong to {Path}", nameof(tensor));
        if (byteOffset < 0 || byteOffset > tensor.ByteLength - destination.Length)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"read of {destination.Length} bytes at {byteOffset} is outside tensor '{tensor.Name}' ({tensor.ByteLength} bytes)");
        long position = Header.DataStart + tensor.DataBegin + byteOffset;
        while (!destination.IsEmpty)
        {
            int n = RandomAccess.Read(_handle, destination, position);
            if (n <= 0) throw new SafetensorsFormatException(Path, $"file ended while reading tensor '{tensor.Name}'");
            destination = destination[n..];
            position += n;
        }
    }

    public void Dispose()
    {
        if (_mapping.IsValueCreated) _mapping.Value.Dispose();
        _handle.Dispose();
    }
}
