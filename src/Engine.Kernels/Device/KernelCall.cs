using Engine.Core.Numerics;

namespace Engine.Kernels.Device;

/// <summary>One launch of a device kernel as data: the kernel's name (snake case, as in <c>kernels/cuda/*.cu</c>
/// without the <c>_kernel</c> suffix; the ILGPU kernel is the same name in Pascal case), how its grid is sized,
/// the inputs packed into one buffer (inputs, then the base) and the arguments in the kernel's parameter order.
/// A backend's launcher stages it, launches it and copies its results back; it knows nothing about the
/// operation.</summary>
/// <param name="Kernel">The kernel's name, e.g. <c>near_swap</c>.</param>
/// <param name="Span">The trace span's name, without the " (device)" every kernel span ends with.</param>
/// <param name="Grid">How many groups the launch takes.</param>
/// <param name="Packed">The tensors the <see cref="KernelArgument.PackedBytes"/>, <see cref="KernelArgument.PackedOffsets"/>
/// and <see cref="KernelArgument.PackedDTypes"/> arguments describe; empty where the kernel reads none.</param>
/// <param name="Arguments">The kernel's parameters in order (outputs, inputs, dimensions).</param>
internal sealed record KernelCall(string Kernel, string Span, KernelGrid Grid, RawTensor[] Packed, KernelArgument[] Arguments);

/// <summary>How a launch's grid is sized. <see cref="GridShape.Elementwise"/>: enough groups for one thread per item,
/// at most 16 per multiprocessor (the kernels stride over the rest); <see cref="GridShape.Reduction"/>: one group per
/// item (a reduction block), at most 16 per multiprocessor.</summary>
internal readonly record struct KernelGrid(GridShape Shape, long Items)
{
    public static KernelGrid Elementwise(long items) => new(GridShape.Elementwise, items);

    public static KernelGrid Reduction(long items) => new(GridShape.Reduction, items);

    /// <summary>The number of groups of <paramref name="groupSize"/> threads on a device with
    /// <paramref name="multiprocessors"/> multiprocessors.</summary>
    public long Groups(long groupSize, long multiprocessors)
    {
        long wanted = Shape == GridShape.Elementwise ? (Items + groupSize - 1) / groupSize : Items;
        return Math.Clamp(wanted, 1, Math.Max(1, multiprocessors) * 16L);
    }
}

/// <summary>See <see cref="KernelGrid"/>.</summary>
internal enum GridShape
{
    Elementwise,
    Reduction,
}

/// <summary>One parameter of a <see cref="KernelCall"/>: a device buffer the launcher fills or reads back, or a
/// value passed as it is.</summary>
internal abstract record KernelArgument
{
    /// <summary>The packed inputs' bytes (u8 buffer).</summary>
    public static readonly KernelArgument PackedBytes = new Packed(PackedPart.Bytes);

    /// <summary>Each packed input's byte offset (i64 buffer; multiples of 16).</summary>
    public static readonly KernelArgument PackedOffsets = new Packed(PackedPart.Offsets);

    /// <summary>Each packed input's dtype code (i32 buffer, <see cref="DeviceDTypes.Code"/>).</summary>
    public static readonly KernelArgument PackedDTypes = new Packed(PackedPart.DTypes);

    /// <summary>The three packed-input arguments in the order every kernel takes them.</summary>
    public static KernelArgument[] PackedInputs => [PackedBytes, PackedOffsets, PackedDTypes];

    /// <summary>One tensor's stored bytes, uploaded alone (u8 buffer).</summary>
    public static KernelArgument Tensor(RawTensor tensor) => new Upload(tensor);

    /// <summary>A small read-only table (f32, i32, i64 or u64 buffer); an empty one is passed as one zero element.</summary>
    public static KernelArgument Table(Array values) =>
        values.GetType() is var t && (t == typeof(float[]) || t == typeof(int[]) || t == typeof(long[]) || t == typeof(ulong[]))
            ? new TableValues(values)
            : throw new ArgumentException($"no device table of {values.GetType().Name}");

    public static KernelArgument Scalar(int value) => new Value(value);

    public static KernelArgument Scalar(long value) => new Value(value);

    public static KernelArgument Scalar(ulong value) => new Value(value);

    public static KernelArgument Scalar(float value) => new Value(value);

    public static KernelArgument Scalar(double value) => new Value(value);

    /// <summary>The dtype code of <paramref name="tensor"/>.</summary>
    public static KernelArgument DTypeOf(RawTensor tensor) => Scalar(DeviceDTypes.Code(tensor.DType));

    /// <summary>A group of scalars: ILGPU takes the struct (its kernels have too many parameters for one
    /// delegate), CUDA C each field in turn.</summary>
    public static KernelArgument Group(IKernelScalars scalars) => new Scalars(scalars);

    /// <summary>The tensor the kernel writes, copied into <paramref name="output"/> afterwards (u8 buffer).</summary>
    public static unsafe KernelArgument Output(RawTensor output) => new Result(typeof(byte), output.ByteLength, (nint)output.Pointer, null);

    /// <summary>An array of <paramref name="count"/> <typeparamref name="T"/> the kernel writes, copied to
    /// <paramref name="destination"/> afterwards; with <paramref name="fill"/>, every byte is set to it first
    /// (flags and counters), otherwise its contents start undefined.</summary>
    public static unsafe KernelArgument Written<T>(T* destination, long count, byte? fill = null) where T : unmanaged =>
        typeof(T) == typeof(float) || typeof(T) == typeof(double) || typeof(T) == typeof(ulong) || typeof(T) == typeof(long)
            ? new Result(typeof(T), count * sizeof(T), (nint)destination, fill)
            : throw new ArgumentException($"no device result of {typeof(T).Name}");

    /// <summary>See <see cref="PackedBytes"/>.</summary>
    internal sealed record Packed(PackedPart Part) : KernelArgument;

    /// <summary>See <see cref="Tensor"/>.</summary>
    internal sealed record Upload(RawTensor Source) : KernelArgument;

    /// <summary>See <see cref="Table"/>.</summary>
    internal sealed record TableValues(Array Values) : KernelArgument;

    /// <summary>A scalar of one of the types the <c>Scalar</c> overloads take.</summary>
    internal sealed record Value(object Boxed) : KernelArgument;

    /// <summary>See <see cref="Group"/>.</summary>
    internal sealed record Scalars(IKernelScalars Values) : KernelArgument;

    /// <summary>A device array of <paramref name="Bytes"/> bytes of <paramref name="Element"/>, copied back to
    /// <paramref name="Destination"/>.</summary>
    internal sealed record Result(Type Element, long Bytes, nint Destination, byte? Fill) : KernelArgument;
}

/// <summary>The layout every kernel reads packed inputs in: input i at byte <c>offsets[i]</c>, each a multiple of 16.</summary>
internal static class PackedLayout
{
    /// <summary>Each input's byte offset; <paramref name="total"/> is the bytes the buffer needs.</summary>
    public static long[] Offsets(RawTensor[] inputs, out long total)
    {
        var offsets = new long[inputs.Length];
        total = 0;
        for (int i = 0; i < inputs.Length; i++)
        {
            offsets[i] = total;
            total += (inputs[i].ByteLength + 15) & ~15L;
        }
        return offsets;
    }
}

/// <summary>The parts of the packed inputs.</summary>
internal enum PackedPart
{
    Bytes,
    Offsets,
    DTypes,
}

/// <summary>A struct of kernel scalars (see <see cref="KernelArgument.Group"/>).</summary>
public interface IKernelScalars
{
    /// <summary>The fields in declaration order, as the CUDA C kernel takes them.</summary>
    object[] Fields { get; }
}
