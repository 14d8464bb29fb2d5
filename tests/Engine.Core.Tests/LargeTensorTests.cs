using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Text;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Core.Safetensors;
using Engine.Testing;

namespace Engine.Core.Tests;

/// <summary>Tensors of more than 2^31 elements, in a sparse file: only a few pages are ever written or
/// touched, so the test needs neither gigabytes of memory nor of disk.</summary>
public sealed unsafe class LargeTensorTests
{
    private const long Big = (1L << 31) + 8;

    [SparseFileFact]
    public void MappedSlicesAndReadsReachBytesPast2GiB()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("big.safetensors");
        string json = $"{{\"big\":{{\"dtype\":\"U8\",\"shape\":[{Big}],\"data_offsets\":[0,{Big}]}},"
            + $"\"flags\":{{\"dtype\":\"BOOL\",\"shape\":[2,{Big / 2}],\"data_offsets\":[{Big},{2 * Big}]}},"
            + $"\"tail\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[{2 * Big},{2 * Big + 8}]}}}}";
        var header = Encoding.UTF8.GetBytes(json);
        long dataStart = 8 + header.Length;
        using (var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            var prefix = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            RandomAccess.Write(handle, prefix, 0);
            RandomAccess.Write(handle, header, 8);
            RandomAccess.SetLength(handle, dataStart + 2 * Big + 8);
            RandomAccess.Write(handle, new byte[] { 0xAB }, dataStart + (1L << 31) + 5);              // big[2^31 + 5]
            RandomAccess.Write(handle, new byte[] { 0xCD }, dataStart + Big - 1);                      // big's last byte
            RandomAccess.Write(handle, new byte[] { 1 }, dataStart + Big + Big / 2 + 3);               // flags[1, 3]
            RandomAccess.Write(handle, BitConverter.GetBytes(2.5f), dataStart + 2 * Big + 4);          // tail[1]
        }

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(dataStart + 2 * Big + 8, file.Length);
        Assert.True(file.Header.TryGet("big", out var big));
        Assert.Equal(Big, big.ElementCount);
        Assert.Equal(Big, big.ByteLength);
        Assert.True(file.Header.TryGet("flags", out var flags));
        Assert.Equal(Big, flags.ElementCount);
        Assert.Equal(Big, flags.DataBegin);

        using (var view = file.Map(big))
        {
            Assert.Equal(Big, view.ByteLength);
            Assert.Equal(new byte[] { 0, 0xAB, 0, 0xCD }, view.Slice((1L << 31) + 4, 4).ToArray());
            Assert.Equal(0xCD, view.Slice(Big - 1, 1)[0]);
            Assert.Throws<ArgumentOutOfRangeException>(() => view.Slice(Big - 1, 2).Length);
            Assert.Throws<ArgumentOutOfRangeException>(() => view.Slice(long.MaxValue - 1, 4).Length);
            Assert.Throws<OverflowException>(() => view.Bytes.Length);
            var raw = new RawTensor(view.Pointer, DType.U8, big.ElementCount);
            Assert.Equal(0xCD, raw.Bytes(Big - 1, 1)[0]);
            Assert.Equal(Big - 8, raw.Slice(8, Big - 8).Length);
        }
        using (var view = file.Map(flags))
        {
            Assert.Equal(1, view.Slice(Big / 2 + 3, 1)[0]);
            Assert.Equal(0, view.Slice(Big / 2 + 2, 1)[0]);
        }
        var streamed = new byte[2];
        file.ReadBytes(big, (1L << 31) + 5, streamed);
        Assert.Equal(new byte[] { 0xAB, 0 }, streamed);
        Assert.True(file.Header.TryGet("tail", out var tail));
        using (var view = file.Map(tail))
        {
            var values = new float[2];
            DTypeConversion.ToSingle(view.Bytes, DType.F32, values);
            Assert.Equal(new[] { 0f, 2.5f }, values);
        }

        using var model = ModelDirectory.Open(path);
        Assert.Equal(2 * Big + 8, model.TotalBytes);
        Assert.Equal(2 * Big + 2, model.TotalElements);
    }

    [Fact]
    public void LayoutOfATensorPast2GiBUsesSixtyFourBitOffsets()
    {
        var specs = new[]
        {
            new TensorSpec("big", DType.BF16, ImmutableArray.Create(Big)),
            new TensorSpec("after", DType.F32, ImmutableArray.Create(3L, 1L << 30)),
        };
        var layout = SafetensorsLayout.Create(specs, SafetensorsLayout.PtMetadata);
        Assert.Equal(2 * Big, layout.ByName["after"].DataBegin);
        Assert.Equal(2 * Big + 12L * (1L << 30), layout.DataLength);
        var header = SafetensorsHeader.Parse("layout", layout.Prefix.AsSpan(8), layout.DataLength);
        Assert.Equal(Big, header.Tensors[0].ElementCount);
        Assert.Equal(3L << 30, header.Tensors[1].ElementCount);
        var plan = ShardWriter.PlanShards(specs, ShardWriterOptions.DefaultMaxShardBytes);
        Assert.Equal(2, plan.Count); // 4.29 GB + 12.9 GB: each alone under the 5 GB limit rule
    }
}
