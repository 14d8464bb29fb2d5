using System.Collections.Immutable;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Safetensors;

namespace Engine.Core.Tests;

/// <summary>Entry point for running this assembly as a child process (<c>dotnet Engine.Core.Tests.dll ...</c>);
/// the test host never calls it. <c>write-and-hang TARGET</c> starts a two-shard <see cref="ShardWriter"/> at
/// TARGET, writes the first tensor, prints <c>writing</c> and waits forever, so a test can kill it mid-write.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args is not ["write-and-hang", var target])
        {
            Console.Error.WriteLine("usage: Engine.Core.Tests write-and-hang TARGET");
            return 2;
        }
        var tensors = new[]
        {
            new TensorSpec("first", DType.F32, ImmutableArray.Create(1024L)),
            new TensorSpec("second", DType.F32, ImmutableArray.Create(1024L)),
        };
        var writer = ShardWriter.Create(target, tensors, new ShardWriterOptions(maxShardBytes: 4096));
        writer.WriteTensor("first", new byte[4096]);
        Console.Out.WriteLine("writing");
        Console.Out.Flush();
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }
}
