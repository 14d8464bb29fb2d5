using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Text.Json;

namespace Engine.Core.Safetensors;

/// <summary>A tensor to be written: name, dtype and shape; its bytes come later.</summary>
public sealed record TensorSpec(string Name, DType DType, ImmutableArray<long> Shape)
{
    /// <summary>Bytes of the tensor's data: elements × dtype size (checked).</summary>
    public long ByteLength => checked(TensorInfo.ElementCountOf(Shape) * DType.SizeOf());
}

/// <summary>The header and data offsets of one safetensors file about to be written: tensors in the given
/// order, data contiguous, and the JSON header padded with spaces to a multiple of 8 bytes (as the
/// safetensors library does) so the data region is aligned.</summary>
public sealed class SafetensorsLayout
{
    private SafetensorsLayout(byte[] prefix, IReadOnlyList<TensorInfo> tensors)
    {
        Prefix = prefix;
        Tensors = tensors;
        ByName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The 8-byte length followed by the padded JSON header.</summary>
    public byte[] Prefix { get; }
    /// <summary>The tensors with their data offsets, in write order.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }
    /// <summary>The same tensors by name.</summary>
    public IReadOnlyDictionary<string, TensorInfo> ByName { get; }
    /// <summary>File offset of the data region: the prefix's length.</summary>
    public long DataStart => Prefix.Length;
    /// <summary>Bytes of the data region: the last tensor's end offset.</summary>
    public long DataLength => Tensors.Count == 0 ? 0 : Tensors[^1].DataEnd;
    /// <summary><c>DataStart + DataLength</c>.</summary>
    public long FileLength => DataStart + DataLength;

    /// <summary>The layout of <paramref name="specs"/>, in order, with <paramref name="metadata"/> as <c>__metadata__</c>.</summary>
    /// <exception cref="ArgumentException">A tensor is named <c>__metadata__</c>, two share a name, or the header would exceed the length readers accept.</exception>
    /// <exception cref="OverflowException">A size overflows.</exception>
    public static SafetensorsLayout Create(IEnumerable<TensorSpec> specs, IReadOnlyDictionary<string, string>? metadata)
    {
        var tensors = new List<TensorInfo>();
        long offset = 0;
        foreach (var s in specs)
        {
            // The reader takes this key for the metadata map, so a tensor of that name could never be read back.
            if (s.Name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor", nameof(specs));
            long end = checked(offset + s.ByteLength);
            tensors.Add(new TensorInfo(s.Name, s.DType, s.Shape, offset, end));
            offset = end;
        }

        using var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            foreach (var t in tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType.SafetensorsName());
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(t.DataBegin);
                w.WriteNumberValue(t.DataEnd);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        long jsonLength = json.Length;
        long padded = (jsonLength + 7) / 8 * 8;
        if (padded > SafetensorsHeader.MaxHeaderLength)
            throw new ArgumentException($"the header of {tensors.Count} tensors takes {padded} bytes, over the {SafetensorsHeader.MaxHeaderLength}-byte limit readers enforce", nameof(specs));
        var prefix = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded);
        json.GetBuffer().AsSpan(0, (int)jsonLength).CopyTo(prefix.AsSpan(8));
        prefix.AsSpan(8 + (int)jsonLength).Fill((byte)' ');
        return new SafetensorsLayout(prefix, tensors);
    }

    /// <summary>The metadata every file we write carries (<c>format: pt</c>, which transformers requires).</summary>
    public static readonly IReadOnlyDictionary<string, string> PtMetadata =
        ImmutableDictionary<string, string>.Empty.Add("format", "pt");
}
