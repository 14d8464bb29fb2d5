using System.Runtime.InteropServices;
using Engine.Core.Diagnostics;
using Engine.Core.Numerics;
using Engine.Interop.Cuda;
using Engine.Kernels.Device;

namespace Engine.Kernels.Cuda;

/// <summary>The CUDA launcher of <see cref="DeviceElementwiseDriver"/>: moves a <see cref="KernelCall"/>'s bytes and
/// launches its kernel from <c>kernels/cuda/elementwise.cu</c> (<c>&lt;name&gt;_kernel</c>), 256 threads a block.
/// The packed inputs and single tensors go into the <c>_a</c>/<c>_b</c> slots, every table into one upload (each at
/// an 8-byte-aligned offset), written arrays into the <c>_output</c>/<c>_importance</c>/<c>_rowKl</c> slots, flags
/// and counters into 8-byte words of <c>_scratch</c>. Kernel arguments are passed as pointers to 8-byte cells.</summary>
public sealed unsafe partial class CudaMergeKernels
{
    private const uint ElementwiseBlock = 256;

    private DeviceSlot _table = null!;
    private CudaModule _elementwise = null!;
    private readonly Dictionary<string, CudaKernel> _elementwiseKernels = new();

    private void LoadElementwiseKernels(CudaModule module)
    {
        _elementwise = module;
        _table = new DeviceSlot(Context);
    }

    private CudaKernel ElementwiseKernel(string name)
    {
        if (!_elementwiseKernels.TryGetValue(name, out var kernel)) _elementwiseKernels[name] = kernel = _elementwise.GetKernel(name + "_kernel");
        return kernel;
    }

    private protected override void Launch(KernelCall call)
    {
        Context.MakeCurrent();
        var arguments = call.Arguments;
        var table = new DeviceTable();
        var (packed, offsets, dtypes) = call.Packed.Length == 0 ? default : UploadPacked(call.Packed, table);
        var tableOffsets = new long[arguments.Length];
        for (int i = 0; i < arguments.Length; i++)
        {
            if (arguments[i] is KernelArgument.TableValues t) tableOffsets[i] = table.Add(t.Values);
        }
        // Calls that read no table (abs_difference, random_keep_mask) skip its upload.
        ulong tableAddress = arguments.Any(a => a is KernelArgument.TableValues or KernelArgument.Packed) ? UploadTable(table) : 0;

        var uploads = arguments.OfType<KernelArgument.Upload>().Select(u => u.Source).ToArray();
        DeviceSlot[] uploadSlots = [_a, _b];
        if (uploads.Length > uploadSlots.Length || call.Packed.Length > 0 && uploads.Length > 0)
            throw new InvalidOperationException($"{call.Kernel}: {uploads.Length} single tensors (and packed inputs) exceed the CUDA launcher's slots");
        var uploaded = new CudaDeviceBuffer[uploads.Length];
        if (uploads.Length > 0)
        {
            using var upload = Trace.Span("upload", "upload", $"{uploads.Sum(u => u.ByteLength)} bytes");
            for (int i = 0; i < uploads.Length; i++)
            {
                uploaded[i] = uploadSlots[i].Ensure(uploads[i].ByteLength);
                Staging.Upload(uploaded[i], 0, uploads[i].Pointer, uploads[i].ByteLength);
            }
        }

        var results = arguments.OfType<KernelArgument.Result>().ToArray();
        var large = results.Where(r => r.Fill is null).ToArray();
        var small = results.Where(r => r.Fill is not null).ToArray();
        DeviceSlot[] resultSlots = [_output, _importance, _rowKl];
        if (large.Length > resultSlots.Length) throw new InvalidOperationException($"{call.Kernel}: {large.Length} written arrays exceed the CUDA launcher's slots");
        var largeBuffers = large.Select((r, i) => resultSlots[i].Ensure(r.Bytes)).ToArray();
        var scratch = small.Length == 0 ? null : _scratch.Ensure(small.Length * sizeof(ulong));

        // One 8-byte cell per kernel parameter; the driver API reads each parameter's size from the cell's start.
        var cells = new List<ulong>();
        int uploadIndex = 0, largeIndex = 0, smallIndex = 0;
        for (int i = 0; i < arguments.Length; i++)
        {
            switch (arguments[i])
            {
                case KernelArgument.Packed p:
                    cells.Add(p.Part switch { PackedPart.Bytes => packed, PackedPart.Offsets => tableAddress + (ulong)offsets, _ => tableAddress + (ulong)dtypes });
                    break;
                case KernelArgument.Upload:
                    cells.Add(uploaded[uploadIndex++].Address);
                    break;
                case KernelArgument.TableValues:
                    cells.Add(tableAddress + (ulong)tableOffsets[i]);
                    break;
                case KernelArgument.Value v:
                    cells.Add(Cell(v.Boxed));
                    break;
                case KernelArgument.Scalars s:
                    cells.AddRange(s.Values.Fields.Select(Cell));
                    break;
                case KernelArgument.Result r:
                    cells.Add(r.Fill is null ? largeBuffers[largeIndex++].Address : scratch!.Address + (ulong)(smallIndex++ * sizeof(ulong)));
                    break;
                default:
                    throw new InvalidOperationException($"{call.Kernel}: no CUDA form for the argument {arguments[i]}");
            }
        }

        using (Trace.Span(call.Span + " (device)", "kernel"))
        {
            if (small.Length > 0)
            {
                // Each flag or counter starts as its fill byte repeated; one small upload sets them all.
                var initial = small.Select(r => r.Fill!.Value * 0x0101010101010101UL).ToArray();
                fixed (ulong* w = initial) Staging.Upload(scratch!, 0, (byte*)w, initial.Length * sizeof(ulong));
            }
            var values = cells.ToArray();
            fixed (ulong* cell = values)
            {
                var pointers = new nint[values.Length];
                for (int j = 0; j < values.Length; j++) pointers[j] = (nint)(cell + j);
                uint grid = (uint)call.Grid.Groups(ElementwiseBlock, Context.Multiprocessors);
                ElementwiseKernel(call.Kernel).Launch(Stream, grid, ElementwiseBlock, 0, pointers);
            }
            SyncIfTracing();
        }

        using var download = Trace.Span("download", "download", $"{large.Sum(r => r.Bytes)} bytes");
        if (small.Length > 0)
        {
            var words = stackalloc ulong[small.Length];
            Staging.DownloadSmall(words, scratch!, small.Length * sizeof(ulong));
            for (int j = 0; j < small.Length; j++) *(ulong*)small[j].Destination = words[j];
        }
        for (int j = 0; j < large.Length; j++) Staging.Download((byte*)large[j].Destination, largeBuffers[j], 0, large[j].Bytes);
    }

    /// <summary>A scalar in the low bytes of an 8-byte cell (little-endian, as the device reads it).</summary>
    private static ulong Cell(object value)
    {
        ulong cell = 0;
        switch (value)
        {
            case int v: *(int*)&cell = v; break;
            case long v: *(long*)&cell = v; break;
            case ulong v: cell = v; break;
            case float v: *(float*)&cell = v; break;
            case double v: *(double*)&cell = v; break;
            default: throw new InvalidOperationException($"no CUDA kernel scalar of {value.GetType().Name}");
        }
        return cell;
    }

    /// <summary>Stages the inputs (then the base) into one device buffer at 16-byte-aligned offsets, and adds their
    /// byte offsets (i64) and dtype codes (i32) to <paramref name="table"/>.</summary>
    private (ulong Address, long Offsets, long DTypes) UploadPacked(RawTensor[] all, DeviceTable table)
    {
        var offsets = PackedLayout.Offsets(all, out long total);
        var packed = _a.Ensure(total);
        using (Trace.Span("upload", "upload", $"{total} bytes"))
        {
            for (int i = 0; i < all.Length; i++) Staging.Upload(packed, offsets[i], all[i].Pointer, all[i].ByteLength);
        }
        return (packed.Address, table.Add<long>(offsets), table.Add<int>(all.Select(x => DeviceDTypes.Code(x.DType)).ToArray()));
    }

    private ulong UploadTable(DeviceTable table)
    {
        var bytes = table.ToArray();
        var device = _table.Ensure(bytes.Length);
        fixed (byte* p = bytes) Staging.Upload(device, 0, p, bytes.Length);
        return device.Address;
    }

    /// <summary>Small arrays for one launch, each at an 8-byte-aligned offset of one upload.</summary>
    private sealed class DeviceTable
    {
        private readonly List<byte> _bytes = new();

        /// <summary>Appends <paramref name="values"/>; returns their byte offset.</summary>
        public long Add<T>(ReadOnlySpan<T> values) where T : unmanaged
        {
            while (_bytes.Count % 8 != 0) _bytes.Add(0);
            long offset = _bytes.Count;
            _bytes.AddRange(MemoryMarshal.AsBytes(values));
            return offset;
        }

        /// <summary>Appends a table of one of the types <see cref="KernelArgument.Table"/> takes.</summary>
        public long Add(Array values) => values.GetType() switch
        {
            // By exact type: the runtime lets a ulong[] pass as a long[] (the same bytes here, but say what it is).
            var t when t == typeof(float[]) => Add<float>((float[])values),
            var t when t == typeof(int[]) => Add<int>((int[])values),
            var t when t == typeof(long[]) => Add<long>((long[])values),
            var t when t == typeof(ulong[]) => Add<ulong>((ulong[])values),
            _ => throw new InvalidOperationException($"no device table of {values.GetType().Name}"),
        };

        public byte[] ToArray() => _bytes.Count == 0 ? new byte[8] : _bytes.ToArray();
    }
}
