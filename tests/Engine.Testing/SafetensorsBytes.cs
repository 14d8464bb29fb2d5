using System.Buffers.Binary;
using System.Text;

namespace Engine.Testing;

/// <summary>Builds raw safetensors files byte by byte, including broken ones.</summary>
public static class SafetensorsBytes
{
    /// <summary>An 8-byte little-endian length, the header text, then the data.</summary>
    public static byte[] Build(string headerJson, byte[] data, ulong? declaredLength = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }
}
