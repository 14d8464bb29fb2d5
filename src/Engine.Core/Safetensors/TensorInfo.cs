using System.Collections.Immutable;

namespace Engine.Core.Safetensors;

/// <summary>One tensor entry of a safetensors header. Offsets are relative to the start of the data
/// region (the byte after the header), as the format defines them.</summary>
public sealed record TensorInfo(string Name, DType DType, ImmutableArray<long> Shape, long DataBegin, long DataEnd)
{
    /// <summary>Product of the dims (1 for a scalar).</summary>
    public long ElementCount => ElementCountOf(Shape);

    /// <summary>Bytes the tensor occupies in the data region.</summary>
    public long ByteLength => DataEnd - DataBegin;

    /// <summary>Shape as it prints in errors and reports: <c>[151936, 896]</c>.</summary>
    public string ShapeText => FormatShape(Shape);

    /// <summary>The product of <paramref name="shape"/>'s dimensions (1 for a scalar).</summary>
    /// <exception cref="OverflowException">The product overflows a long.</exception>
    public static long ElementCountOf(ImmutableArray<long> shape)
    {
        long n = 1;
        foreach (var d in shape) n = checked(n * d);
        return n;
    }

    /// <summary><paramref name="shape"/> as it prints in errors: <c>[151936, 896]</c>.</summary>
    public static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
