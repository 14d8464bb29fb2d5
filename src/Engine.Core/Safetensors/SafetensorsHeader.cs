using System.Collections.Immutable;
using System.Text;
using System.Text.Json;

namespace Engine.Core.Safetensors;

/// <summary>A parsed and validated safetensors header.</summary>
/// <remarks>Validation follows the safetensors project's rules, with checked arithmetic for every size read
/// from the file: header length at most <see cref="MaxHeaderLength"/> and inside the file, well-formed UTF-8
/// JSON object without duplicate keys, known dtypes, non-negative dims whose product times the element size
/// equals the offsets' span, offsets in order, not overlapping and covering the data region exactly, and
/// <c>__metadata__</c> a map of strings.</remarks>
public sealed class SafetensorsHeader
{
    /// <summary>The safetensors project's limit on the JSON header (100 MB).</summary>
    public const long MaxHeaderLength = 100_000_000;

    private readonly Dictionary<string, TensorInfo> _byName;

    private SafetensorsHeader(long headerLength, IReadOnlyList<TensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        HeaderLength = headerLength;
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Length of the JSON header in bytes (the u64 at the start of the file).</summary>
    public long HeaderLength { get; }

    /// <summary>Byte offset of the data region in the file.</summary>
    public long DataStart => 8 + HeaderLength;

    /// <summary>Tensors in the order of their data.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor named <paramref name="name"/>, or false.</summary>
    public bool TryGet(string name, out TensorInfo info) => _byName.TryGetValue(name, out info!);

    /// <summary>Validates the length prefix read from a file of <paramref name="fileLength"/> bytes.</summary>
    public static long ValidateHeaderLength(string path, ulong declared, long fileLength)
    {
        if (fileLength < 8) throw new SafetensorsFormatException(path, $"file is {fileLength} bytes, shorter than the 8-byte header length");
        if (declared > MaxHeaderLength) throw new SafetensorsFormatException(path, $"header length {declared} exceeds the {MaxHeaderLength}-byte limit");
        if ((long)declared > fileLength - 8) throw new SafetensorsFormatException(path, $"header length {declared} runs past the end of the {fileLength}-byte file");
        if (declared < 2) throw new SafetensorsFormatException(path, $"header length {declared} is too short for a JSON object");
        return (long)declared;
    }

    /// <summary>Parses the JSON header bytes and validates every entry against a data region of
    /// <paramref name="dataLength"/> bytes.</summary>
    public static SafetensorsHeader Parse(string path, ReadOnlySpan<byte> json, long dataLength)
    {
        if (!System.Text.Unicode.Utf8.IsValid(json)) throw new SafetensorsFormatException(path, "header is not valid UTF-8");
        var tensors = new List<TensorInfo>();
        var metadata = ImmutableDictionary<string, string>.Empty;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 8 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new SafetensorsFormatException(path, "header is not a JSON object");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                string name = reader.GetString()!;
                if (!seen.Add(name)) throw new SafetensorsFormatException(path, $"duplicate key '{name}' in header");
                reader.Read();
                if (name == "__metadata__") metadata = ReadMetadata(path, ref reader);
                else tensors.Add(ReadTensor(path, name, ref reader));
            }
            if (reader.Read()) throw new SafetensorsFormatException(path, "trailing data after the header's JSON object");
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException(path, $"header is not valid JSON ({e.Message.Split('\n')[0]})");
        }
        catch (InvalidOperationException e)
        {
            // Only strings are read with GetString, so this is a string the reader cannot decode (a lone surrogate escape).
            throw new SafetensorsFormatException(path, $"header holds an undecodable JSON string ({e.Message.Split('\n')[0]})");
        }

        tensors.Sort((a, b) => a.DataBegin != b.DataBegin ? a.DataBegin.CompareTo(b.DataBegin) : a.DataEnd.CompareTo(b.DataEnd));
        long expected = 0;
        foreach (var t in tensors)
        {
            if (t.DataBegin < expected)
                throw new SafetensorsFormatException(path, $"tensor '{t.Name}' data [{t.DataBegin}, {t.DataEnd}) overlaps the previous tensor (ending at {expected})");
            if (t.DataBegin > expected)
                throw new SafetensorsFormatException(path, $"tensor '{t.Name}' starts at {t.DataBegin}, leaving a gap after offset {expected}");
            expected = t.DataEnd;
        }
        if (expected != dataLength)
            throw new SafetensorsFormatException(path, $"tensors cover {expected} bytes but the data region is {dataLength} bytes");
        return new SafetensorsHeader(json.Length, tensors, metadata);
    }

    private static ImmutableDictionary<string, string> ReadMetadata(string path, ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null) return ImmutableDictionary<string, string>.Empty;
        if (reader.TokenType != JsonTokenType.StartObject) throw new SafetensorsFormatException(path, "__metadata__ is not an object");
        var builder = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String) throw new SafetensorsFormatException(path, $"__metadata__ value of '{key}' is not a string");
            if (!builder.TryAdd(key, reader.GetString()!)) throw new SafetensorsFormatException(path, $"duplicate __metadata__ key '{key}'");
        }
        return builder.ToImmutable();
    }

    private static TensorInfo ReadTensor(string path, string name, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new SafetensorsFormatException(path, $"tensor '{name}' entry is not an object");
        string? dtypeName = null;
        ImmutableArray<long>? shape = null;
        (long Begin, long End)? offsets = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            reader.Read();
            switch (key)
            {
                case "dtype":
                    if (dtypeName != null) throw new SafetensorsFormatException(path, $"tensor '{name}' has a duplicate 'dtype'");
                    if (reader.TokenType != JsonTokenType.String) throw new SafetensorsFormatException(path, $"tensor '{name}' dtype is not a string");
                    dtypeName = reader.GetString();
                    break;
                case "shape":
                    if (shape != null) throw new SafetensorsFormatException(path, $"tensor '{name}' has a duplicate 'shape'");
                    shape = ReadIntegers(path, name, "shape", ref reader).ToImmutableArray();
                    break;
                case "data_offsets":
                    if (offsets != null) throw new SafetensorsFormatException(path, $"tensor '{name}' has duplicate 'data_offsets'");
                    var o = ReadIntegers(path, name, "data_offsets", ref reader);
                    if (o.Count != 2) throw new SafetensorsFormatException(path, $"tensor '{name}' data_offsets has {o.Count} values, expected 2");
                    offsets = (o[0], o[1]);
                    break;
                default:
                    throw new SafetensorsFormatException(path, $"tensor '{name}' has unknown field '{key}'");
            }
        }
        if (dtypeName == null) throw new SafetensorsFormatException(path, $"tensor '{name}' has no dtype");
        if (shape == null) throw new SafetensorsFormatException(path, $"tensor '{name}' has no shape");
        if (offsets == null) throw new SafetensorsFormatException(path, $"tensor '{name}' has no data_offsets");
        if (!DTypes.TryParseSafetensors(dtypeName, out var dtype)) throw new SafetensorsFormatException(path, $"tensor '{name}' has unknown dtype '{dtypeName}'");
        var (begin, end) = offsets.Value;
        if (end < begin) throw new SafetensorsFormatException(path, $"tensor '{name}' data_offsets [{begin}, {end}] are reversed");
        long bytes;
        try
        {
            bytes = checked(TensorInfo.ElementCountOf(shape.Value) * dtype.SizeOf());
        }
        catch (OverflowException)
        {
            throw new SafetensorsFormatException(path, $"tensor '{name}' shape {TensorInfo.FormatShape(shape.Value)} overflows its byte size");
        }
        if (bytes != end - begin)
            throw new SafetensorsFormatException(path, $"tensor '{name}' shape {TensorInfo.FormatShape(shape.Value)} of {dtypeName} needs {bytes} bytes but data_offsets [{begin}, {end}] span {end - begin}");
        return new TensorInfo(name, dtype, shape.Value, begin, end);
    }

    private static List<long> ReadIntegers(string path, string name, string field, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new SafetensorsFormatException(path, $"tensor '{name}' {field} is not an array");
        var values = new List<long>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long v))
                throw new SafetensorsFormatException(path, $"tensor '{name}' {field} holds '{Encoding.UTF8.GetString(reader.ValueSpan)}', not an integer in range");
            if (v < 0) throw new SafetensorsFormatException(path, $"tensor '{name}' {field} holds negative value {v}");
            values.Add(v);
        }
        return values;
    }
}
