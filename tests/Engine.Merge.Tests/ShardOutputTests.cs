using System.Collections.Immutable;
using System.Text;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Core.Safetensors;
using Engine.Merge.Execution;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary>The double-buffered tensor writer: every chunk lands where it belongs, and a failure while a write is
/// in flight comes back as itself with nothing left running.</summary>
public sealed unsafe class ShardOutputTests
{
    private const long Elements = 2L * ShardOutput.ChunkElements + 1001;

    private static ShardWriter Writer(string path) =>
        ShardWriter.Create(path, [new TensorSpec("t", DType.F32, [Elements])], new ShardWriterOptions());

    private static void Produce(RawTensor chunk, long start)
    {
        var values = (float*)chunk.Pointer;
        for (long i = 0; i < chunk.Length; i++) values[i] = (start + i) % 9973;
    }

    [Fact]
    public void EveryChunkOfATensorOfSeveralLandsInPlace()
    {
        using var dir = new TempDirectory();
        var starts = new List<long>();
        using (var writer = Writer(dir.Combine("out")))
        {
            using (var output = new ShardOutput(writer, "t", DType.F32, Elements, null, new ScratchArena()))
                output.Fill((chunk, start) => { starts.Add(start); Produce(chunk, start); }, CancellationToken.None);
            writer.WriteFile("config.json", Encoding.UTF8.GetBytes("{}"));
            writer.Commit();
        }
        Assert.Equal([0L, ShardOutput.ChunkElements, 2L * ShardOutput.ChunkElements], starts);
        var values = TestModels.Read(dir.Combine("out"))["t"];
        for (long i = 0; i < Elements; i++)
        {
            if (values[i] != i % 9973) Assert.Fail($"element {i}: {values[i]}, expected {i % 9973}");
        }
    }

    [Fact]
    public void AFailureWhileThePreviousChunkIsWrittenIsReportedAsItself()
    {
        using var dir = new TempDirectory();
        using var writer = Writer(dir.Combine("out"));
        using var output = new ShardOutput(writer, "t", DType.F32, Elements);
        var e = Assert.Throws<InvalidOperationException>(() => output.Fill((chunk, start) =>
        {
            if (start > 0) throw new InvalidOperationException("kernel failed");
            Produce(chunk, start);
        }, CancellationToken.None));
        Assert.Equal("kernel failed", e.Message);
    }

    [Fact]
    public void CancellationBetweenChunksStopsTheTensor()
    {
        using var dir = new TempDirectory();
        using var writer = Writer(dir.Combine("out"));
        using var output = new ShardOutput(writer, "t", DType.F32, Elements);
        using var cancel = new CancellationTokenSource();
        int produced = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => output.Fill((chunk, start) =>
        {
            Produce(chunk, start);
            if (++produced == 2) cancel.Cancel();
        }, cancel.Token));
        Assert.Equal(2, produced);
    }

    [Fact]
    public void AWriteFailureIsReported()
    {
        using var dir = new TempDirectory();
        using var writer = Writer(dir.Combine("out"));
        using var output = new ShardOutput(writer, "t", DType.F32, Elements);
        // The first chunk's range written twice: the shard writer refuses the overlap on the pool thread.
        writer.WriteTensor("t", new byte[16], 0);
        var e = Assert.Throws<ArgumentException>(() => output.Fill(Produce, CancellationToken.None));
        Assert.Contains("overlaps", e.Message);
    }
}
