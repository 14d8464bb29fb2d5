using System.Collections.Immutable;
using System.Text.Json;
using Engine.Core.Model;
using Engine.Core.Safetensors;
using Engine.Testing;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Engine.Core.Tests;

/// <summary>A random checkpoint: tensors of every dtype (scalars and 0-size dims included), their bytes
/// drawn from <see cref="Seed"/>, a shard limit, and whether each tensor is written in two halves, in
/// reverse order.</summary>
public sealed record CheckpointCase(IReadOnlyList<TensorSpec> Tensors, long MaxShardBytes, int Seed, bool Scrambled)
{
    public override string ToString() =>
        $"shard limit {MaxShardBytes}, seed {Seed}, scrambled {Scrambled}: " +
        string.Join("; ", Tensors.Select(t => $"{t.Name} {t.DType} {TensorInfo.FormatShape(t.Shape)}"));

    public byte[] BytesOf(int index)
    {
        var bytes = new byte[Tensors[index].ByteLength];
        new Random(Seed * 1000 + index).NextBytes(bytes);
        return bytes;
    }
}

public static class CheckpointArbitraries
{
    public static Arbitrary<CheckpointCase> Cases()
    {
        var dims = Gen.Frequency((1, Gen.Constant(0L)), (6, Gen.Choose(1, 7).Select(d => (long)d)));
        var shape = Gen.Choose(0, 4).SelectMany(rank => Gen.ArrayOf(dims, rank)).Select(ImmutableArray.Create);
        var dtype = Gen.Elements(Enum.GetValues<DType>());
        var tensor = dtype.SelectMany(_ => shape, (d, s) => (DType: d, Shape: s));
        var tensors = Gen.Choose(0, 9).SelectMany(n => Gen.ArrayOf(tensor, n))
            .Select(ts => (IReadOnlyList<TensorSpec>)ts.Select((t, i) => new TensorSpec($"model.layers.{i}.w{(int)t.DType}", t.DType, t.Shape)).ToList());
        var shardLimit = Gen.Elements(1L, 16L, 100L, 1000L, ShardWriterOptions.DefaultMaxShardBytes);
        var gen =
            from ts in tensors
            from limit in shardLimit
            from seed in Gen.Choose(0, 1_000_000)
            from scrambled in Gen.Elements(false, true)
            select new CheckpointCase(ts, limit, seed, scrambled);
        return gen.ToArbitrary();
    }
}

public sealed class RoundTripPropertyTests
{
    [Property(Arbitrary = new[] { typeof(CheckpointArbitraries) }, MaxTest = 80)]
    public void ShardWriterOutputReadsBackIdentically(CheckpointCase c)
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("model");
        using (var writer = ShardWriter.Create(target, c.Tensors, new ShardWriterOptions(c.MaxShardBytes)))
        {
            var order = Enumerable.Range(0, c.Tensors.Count).ToList();
            if (c.Scrambled) order.Reverse();
            foreach (int i in order)
            {
                var bytes = c.BytesOf(i);
                if (c.Scrambled && bytes.Length > 1)
                {
                    int half = bytes.Length / 2;
                    writer.WriteTensor(c.Tensors[i].Name, bytes.AsSpan(half), half);
                    writer.WriteTensor(c.Tensors[i].Name, bytes.AsSpan(0, half));
                }
                else writer.WriteTensor(c.Tensors[i].Name, bytes);
            }
            writer.Commit();
        }

        using var model = ModelDirectory.Open(target);
        Assert.Equal(c.Tensors.Count, model.Tensors.Count);
        for (int i = 0; i < c.Tensors.Count; i++)
        {
            var spec = c.Tensors[i];
            var t = model.GetTensor(spec.Name);
            Assert.Equal(spec.DType, t.Info.DType);
            Assert.Equal(spec.Shape.ToArray(), t.Info.Shape.ToArray());
            Assert.Equal(spec.ByteLength, t.Info.ByteLength);
            using var view = t.Read();
            Assert.True(c.BytesOf(i).AsSpan().SequenceEqual(view.Bytes), $"tensor {spec.Name} bytes differ");
            var streamed = new byte[t.Info.ByteLength];
            t.File.ReadBytes(t.Info, 0, streamed);
            Assert.Equal(c.BytesOf(i), streamed);
        }

        long total = c.Tensors.Sum(t => t.ByteLength);
        Assert.Equal(total, model.TotalBytes);
        foreach (var shard in model.Shards)
        {
            Assert.Equal("pt", shard.Header.Metadata["format"]);
            Assert.Equal(0, shard.Header.DataStart % 8);
            Assert.True(shard.Tensors.Count == 1 || shard.Tensors.Sum(t => t.ByteLength) <= c.MaxShardBytes,
                $"{shard.Path} holds {shard.Tensors.Count} tensors over the {c.MaxShardBytes}-byte limit");
        }
        string index = Path.Combine(target, ModelDirectory.IndexFileName);
        if (model.Shards.Count == 1)
        {
            Assert.False(File.Exists(index));
            Assert.Equal(Path.Combine(target, "model.safetensors"), model.Shards[0].Path);
            return;
        }
        using var doc = JsonDocument.Parse(File.ReadAllBytes(index));
        Assert.Equal(total, doc.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
        var weightMap = doc.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        var expected = model.Tensors.ToDictionary(t => t.Name, t => (string?)Path.GetFileName(t.File.Path));
        Assert.Equal(expected.OrderBy(kv => kv.Key, StringComparer.Ordinal), weightMap.OrderBy(kv => kv.Key, StringComparer.Ordinal));
        for (int s = 0; s < model.Shards.Count; s++)
            Assert.Equal($"model-{s + 1:D5}-of-{model.Shards.Count:D5}.safetensors", Path.GetFileName(model.Shards[s].Path));
    }

    [Property(Arbitrary = new[] { typeof(CheckpointArbitraries) }, MaxTest = 200)]
    public void LayoutHeaderParsesBackToTheSameEntries(CheckpointCase c)
    {
        var layout = SafetensorsLayout.Create(c.Tensors, SafetensorsLayout.PtMetadata);
        var header = SafetensorsHeader.Parse("layout", layout.Prefix.AsSpan(8), layout.DataLength);
        Assert.Equal(layout.DataStart, header.DataStart);
        Assert.Equal(c.Tensors.Count, header.Tensors.Count);
        foreach (var spec in c.Tensors)
        {
            Assert.True(header.TryGet(spec.Name, out var info));
            Assert.Equal(layout.ByName[spec.Name].DataBegin, info.DataBegin);
            Assert.Equal(spec.ByteLength, info.ByteLength);
            Assert.Equal(spec.DType, info.DType);
            Assert.Equal(spec.Shape.ToArray(), info.Shape.ToArray());
        }
    }
}
