using System.Reflection;
using System.Runtime.ExceptionServices;
using Engine.Core.Numerics;
using Engine.Kernels.Device;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels.Ilgpu;

/// <summary>The ILGPU launcher of <see cref="DeviceElementwiseDriver"/>: moves a <see cref="KernelCall"/>'s bytes and
/// launches the <see cref="IlgpuElementwiseKernels"/> method of the call's name in Pascal case, one group of
/// <c>_group</c> threads per block. Buffers are allocated per call: the packed inputs (each at a 16-byte-aligned
/// offset), one per single tensor, table and written array, each typed as the kernel's parameter.</summary>
public sealed unsafe partial class IlgpuMergeKernels
{
    /// <summary>Every kernel of <see cref="IlgpuElementwiseKernels"/> by method name, loaded (compiled) at construction.</summary>
    private readonly Dictionary<string, Kernel> _elementwiseKernels = new();

    /// <summary>The kernels of <see cref="IlgpuElementwiseKernels"/>: every public static method.</summary>
    private static MethodInfo[] ElementwiseKernelMethods => typeof(IlgpuElementwiseKernels).GetMethods(BindingFlags.Public | BindingFlags.Static);

    private Kernel ElementwiseKernel(string name)
    {
        string method = string.Concat(name.Split('_').Select(part => char.ToUpperInvariant(part[0]) + part[1..]));
        return _elementwiseKernels.TryGetValue(method, out var kernel) ? kernel
            : throw new InvalidOperationException($"no ILGPU kernel {nameof(IlgpuElementwiseKernels)}.{method} for {name}");
    }

    private protected override void Launch(KernelCall call)
    {
        _accelerator.Bind();
        var stream = _accelerator.DefaultStream;
        var owned = new List<MemoryBuffer>();
        try
        {
            PackedInputs? packed = call.Packed.Length == 0 ? null : new PackedInputs(this, call.Packed, owned);
            var results = new List<(KernelArgument.Result Result, ArrayView<byte> Bytes)>();
            var arguments = new List<object> { new KernelConfig((int)call.Grid.Groups(_group, _accelerator.NumMultiprocessors), _group) };
            foreach (var argument in call.Arguments)
            {
                arguments.Add(argument switch
                {
                    KernelArgument.Packed p => p.Part switch { PackedPart.Bytes => packed!.Value.Bytes, PackedPart.Offsets => packed!.Value.Offsets, _ => packed!.Value.DTypes },
                    KernelArgument.Upload u => (ArrayView<byte>)Own(owned, Upload(u.Source.Pointer, u.Source.ByteLength)).View,
                    KernelArgument.TableValues t => Table(t.Values, owned),
                    KernelArgument.Value v => v.Boxed,
                    KernelArgument.Scalars s => s.Values,
                    KernelArgument.Result r => Written(r, owned, results),
                    _ => throw new InvalidOperationException($"{call.Kernel}: no ILGPU form for the argument {argument}"),
                });
            }
            using (Kernel(call.Span))
            {
                try
                {
                    ElementwiseKernel(call.Kernel).Launch(stream, (KernelConfig)arguments[0], arguments.Skip(1).ToArray());
                }
                catch (TargetInvocationException e) when (e.InnerException is { } inner)
                {
                    ExceptionDispatchInfo.Throw(inner);
                }
            }
            foreach (var (result, bytes) in results) _staging.Download((byte*)result.Destination, bytes);
            stream.Synchronize();
        }
        finally
        {
            foreach (var buffer in owned) buffer.Dispose();
        }
    }

    private static T Own<T>(List<MemoryBuffer> owned, T buffer) where T : MemoryBuffer
    {
        owned.Add(buffer);
        return buffer;
    }

    /// <summary>A read-only table as the kernel's typed view; an empty one as one zero element.</summary>
    private object Table(Array values, List<MemoryBuffer> owned) => values.GetType() switch
    {
        // By exact type: the runtime lets a ulong[] pass as a long[] (and back), but ILGPU's views are typed.
        var t when t == typeof(float[]) => Allocated((float[])values, owned),
        var t when t == typeof(int[]) => Allocated((int[])values, owned),
        var t when t == typeof(long[]) => Allocated((long[])values, owned),
        var t when t == typeof(ulong[]) => Allocated((ulong[])values, owned),
        _ => throw new InvalidOperationException($"no ILGPU table of {values.GetType().Name}"),
    };

    /// <summary>A copy of <paramref name="values"/> on the accelerator (one zero element for none), freed with the call.</summary>
    private ArrayView<T> Allocated<T>(T[] values, List<MemoryBuffer> owned) where T : unmanaged =>
        Own(owned, _accelerator.Allocate1D(values.Length == 0 ? new T[1] : values)).View;

    /// <summary>A written array as the kernel's typed view (bytes rounded up to whole 4-byte words), set to its fill
    /// byte where it has one; its bytes are queued for the copy back.</summary>
    private object Written(KernelArgument.Result result, List<MemoryBuffer> owned, List<(KernelArgument.Result, ArrayView<byte>)> results)
    {
        long bytes = Math.Max(8, (result.Bytes + 7) & ~7L);
        var buffer = Own(owned, _accelerator.Allocate1D<byte>(bytes));
        if (result.Fill is { } fill) buffer.View.MemSet(_accelerator.DefaultStream, fill);
        ArrayView<byte> view = buffer.View;
        results.Add((result, view.SubView(0, result.Bytes)));
        return result.Element == typeof(byte) ? view
            : result.Element == typeof(float) ? view.Cast<float>()
            : result.Element == typeof(double) ? view.Cast<double>()
            : result.Element == typeof(ulong) ? view.Cast<ulong>()
            : result.Element == typeof(long) ? view.Cast<long>()
            : throw new InvalidOperationException($"no ILGPU result of {result.Element.Name}");
    }

    /// <summary>Inputs (and the base after them) in one device buffer, each at a 16-byte-aligned offset.</summary>
    private readonly struct PackedInputs
    {
        public PackedInputs(IlgpuMergeKernels owner, RawTensor[] all, List<MemoryBuffer> owned)
        {
            var offsets = PackedLayout.Offsets(all, out long total);
            var accelerator = owner._accelerator;
            var bytes = Own(owned, accelerator.Allocate1D<byte>(Math.Max(16, total)));
            for (int i = 0; i < all.Length; i++) owner._staging.Upload(bytes.View.SubView(offsets[i], all[i].ByteLength), all[i].Pointer);
            owner._staging.Flush();
            Bytes = bytes.View;
            Offsets = owner.Allocated(offsets, owned);
            DTypes = owner.Allocated(all.Select(x => DeviceDTypes.Code(x.DType)).ToArray(), owned);
        }

        public ArrayView<byte> Bytes { get; }
        public ArrayView<long> Offsets { get; }
        public ArrayView<int> DTypes { get; }
    }
}
