namespace Engine.Core;

/// <summary>Element types of the safetensors format. F32, F16 and BF16 take part in math; every other
/// type is carried as raw bytes. New members are appended so stored enum values stay stable.</summary>
/// <remarks>The safetensors project's packed sub-byte types (F4, F6_E2M3, F6_E3M2) are not supported: a file
/// holding them is rejected as having an unknown dtype.</remarks>
public enum DType
{
    /// <summary>One byte per element, 0 or 1.</summary>
    Bool,

    /// <summary>Unsigned 8-bit integer.</summary>
    U8,

    /// <summary>Signed 8-bit integer.</summary>
    I8,

    /// <summary>8-bit float, 4 exponent and 3 mantissa bits (OCP FP8 E4M3).</summary>
    F8_E4M3,

    /// <summary>8-bit float, 5 exponent and 2 mantissa bits (OCP FP8 E5M2).</summary>
    F8_E5M2,

    /// <summary>Signed 16-bit integer.</summary>
    I16,

    /// <summary>Unsigned 16-bit integer.</summary>
    U16,

    /// <summary>IEEE 754 half: 5 exponent and 10 mantissa bits.</summary>
    F16,

    /// <summary>bfloat16: the top 16 bits of a float32 (8 exponent, 7 mantissa bits).</summary>
    BF16,

    /// <summary>Signed 32-bit integer.</summary>
    I32,

    /// <summary>Unsigned 32-bit integer.</summary>
    U32,

    /// <summary>IEEE 754 single.</summary>
    F32,

    /// <summary>Signed 64-bit integer.</summary>
    I64,

    /// <summary>Unsigned 64-bit integer.</summary>
    U64,

    /// <summary>IEEE 754 double.</summary>
    F64,

    /// <summary>Exponent-only 8-bit float (MX block scales).</summary>
    F8_E8M0,

    /// <summary>Complex of two float32 (8 bytes).</summary>
    C64,
}

/// <summary>Sizes and names of <see cref="DType"/> values.</summary>
public static class DTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this DType dtype) => dtype switch
    {
        DType.Bool or DType.U8 or DType.I8 or DType.F8_E4M3 or DType.F8_E5M2 or DType.F8_E8M0 => 1,
        DType.I16 or DType.U16 or DType.F16 or DType.BF16 => 2,
        DType.I32 or DType.U32 or DType.F32 => 4,
        DType.I64 or DType.U64 or DType.F64 or DType.C64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>True for the floating-point types the merge and training math read and write.</summary>
    public static bool IsMathType(this DType dtype) => dtype is DType.F32 or DType.F16 or DType.BF16;

    /// <summary>The name safetensors headers use ("F32", "BF16", "BOOL", ...).</summary>
    public static string SafetensorsName(this DType dtype) => dtype == DType.Bool ? "BOOL" : dtype.ToString();

    /// <summary>Parses a safetensors header dtype name.</summary>
    public static bool TryParseSafetensors(string name, out DType dtype)
    {
        foreach (var d in Enum.GetValues<DType>())
        {
            if (d.SafetensorsName() == name) { dtype = d; return true; }
        }
        dtype = default;
        return false;
    }

    /// <summary>Parses the dtype names people write in configs: torch names (<c>bfloat16</c>, <c>float16</c>,
    /// <c>float32</c>, <c>torch.bfloat16</c>), short names (<c>bf16</c>, <c>fp16</c>, <c>fp32</c>) and safetensors names.</summary>
    public static bool TryParseConfigName(string? name, out DType dtype)
    {
        dtype = default;
        if (string.IsNullOrWhiteSpace(name)) return false;
        var n = name.Trim();
        if (n.StartsWith("torch.", StringComparison.Ordinal)) n = n["torch.".Length..];
        switch (n.ToLowerInvariant())
        {
            case "bfloat16": case "bf16": dtype = DType.BF16; return true;
            case "float16": case "fp16": case "half": case "f16": dtype = DType.F16; return true;
            case "float32": case "fp32": case "float": case "f32": dtype = DType.F32; return true;
            case "float64": case "fp64": case "double": case "f64": dtype = DType.F64; return true;
        }
        return TryParseSafetensors(n.ToUpperInvariant(), out dtype);
    }

    /// <summary>The torch name written to <c>config.json</c>'s <c>torch_dtype</c>.</summary>
    public static string TorchName(this DType dtype) => dtype switch
    {
        DType.BF16 => "bfloat16",
        DType.F16 => "float16",
        DType.F32 => "float32",
        DType.F64 => "float64",
        _ => dtype.SafetensorsName().ToLowerInvariant(),
    };
}
