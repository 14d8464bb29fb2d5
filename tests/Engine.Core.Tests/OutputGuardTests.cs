using Engine.Core.Model;
using Engine.Testing;

namespace Engine.Core.Tests;

/// <summary>The output lock and the output path checks, taken before any work is done.</summary>
public sealed class OutputGuardTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ASecondWriterOfTheSameOutputIsRefusedUntilTheFirstIsDone()
    {
        string target = _dir.Combine("out");
        using (OutputLock.Acquire(target))
        {
            var e = Assert.Throws<OutputException>(() => OutputLock.Acquire(target));
            Assert.Contains("another process is writing this output", e.Message);
            using (OutputLock.Acquire(_dir.Combine("other"))) { }
        }
        Assert.Empty(Directory.GetFileSystemEntries(_dir.Path));
        using (OutputLock.Acquire(target)) { }
    }

    [Fact]
    public void LockHandOverUnderContentionNeverHasTwoHolders()
    {
        // Writers take and drop the lock in a loop; at no time may two of them hold it.
        string target = _dir.Combine("out");
        int holders = 0, overlaps = 0, taken = 0;
        Parallel.For(0, 4, _ =>
        {
            for (int i = 0; i < 300; i++)
            {
                try
                {
                    using var held = OutputLock.Acquire(target);
                    if (Interlocked.Increment(ref holders) > 1) Interlocked.Increment(ref overlaps);
                    Interlocked.Increment(ref taken);
                    Interlocked.Decrement(ref holders);
                }
                catch (OutputException)
                {
                }
            }
        });
        Assert.Equal(0, overlaps);
        Assert.True(taken > 0);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("//")]
    [InlineData("/..")]
    [InlineData("")]
    [InlineData(" ")]
    public void TheRootAndEmptyPathsAreRefused(string target)
    {
        var e = Assert.Throws<OutputException>(() => OutputPaths.Resolve(target));
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void TheCurrentDirectoryAndItsParentsAreRefused()
    {
        Assert.Throws<OutputException>(() => OutputPaths.Resolve(Environment.CurrentDirectory));
        Assert.Throws<OutputException>(() => OutputPaths.Resolve(Path.GetDirectoryName(Environment.CurrentDirectory)!));
        Assert.Throws<OutputException>(() => AtomicDirectory.Create("/", overwrite: true));
    }

    [Fact]
    public void OverlapIsFoundThroughSymbolicLinks()
    {
        string input = _dir.Combine("model");
        Directory.CreateDirectory(input);
        string alias = _dir.Combine("alias");
        Directory.CreateSymbolicLink(alias, input);
        var e = Assert.Throws<OutputException>(() => OutputPaths.CheckNoOverlap(Path.Combine(alias, "out"), [input]));
        Assert.Contains("overlaps input model", e.Message);
        Assert.Throws<OutputException>(() => OutputPaths.CheckNoOverlap(_dir.Path, [alias]));
        OutputPaths.CheckNoOverlap(_dir.Combine("elsewhere"), [alias]);
    }
}
