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
    public void ReadsReachBytesPast2GiB()
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

        // Read in place, not copied out whole: the test stays within a few pages of memory.
        var window = new byte[4];
        file.ReadBytes(big, (1L << 31) + 4, window);
        Assert.Equal(new byte[] { 0, 0xAB, 0, 0xCD }, window);
        file.ReadBytes(big, Big - 1, window.AsSpan(0, 1));
        Assert.Equal(0xCD, window[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => file.ReadBytes(big, Big - 1, new byte[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => file.ReadBytes(big, long.MaxValue - 1, new byte[4]));
        file.ReadBytes(flags, Big / 2 + 2, window.AsSpan(0, 2));
        Assert.Equal(new byte[] { 0, 1 }, window[..2]);
        Assert.True(file.Header.TryGet("tail", out var tail));
        using (var bytes = file.Read(tail))
        {
            var values = new float[2];
            DTypeConversion.ToSingle(bytes.Bytes, DType.F32, values);
            Assert.Equal(new[] { 0f, 2.5f }, values);
            Assert.Throws<ArgumentOutOfRangeException>(() => bytes.Slice(4, 5).Length);
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
