using Engine.Core.Numerics;

namespace Engine.Core.Tests;

public sealed class ScratchArenaTests
{
    [Fact]
    public unsafe void RentsReuseOneBufferGrownToTheLargestAndASecondConcurrentRentIsFresh()
    {
        using var arena = new ScratchArena();
        nint first;
        using (var a = arena.RentFloats(1000))
        {
            Assert.Equal(1000, a.Length);
            a.Span.Fill(7);
            first = (nint)a.Pointer;
            using var b = arena.RentFloats(10);
            Assert.NotEqual(first, (nint)b.Pointer);
        }
        using (var c = arena.RentFloats(500))
        {
            Assert.Equal(500, c.Length);
            Assert.Equal(first, (nint)c.Pointer);
            Assert.Equal(7f, c.Span[499]); // the view's dispose freed nothing
        }
        using var d = arena.RentFloats(5000);
        Assert.Equal(5000, d.Length);
        d.Span.Fill(1); // the grown buffer is really that long
    }

    [Fact]
    public void AViewCannotOutgrowItsOwner()
    {
        using var owner = new NativeArray<float>(4);
        Assert.Throws<ArgumentOutOfRangeException>(() => NativeArray<float>.View(owner, 5, () => { }));
        int released = 0;
        var view = NativeArray<float>.View(owner, 4, () => released++);
        view.Dispose();
        view.Dispose();
        Assert.Equal(1, released);
        Assert.Throws<ObjectDisposedException>(() => view.Span.ToArray());
        owner.Span[3] = 1; // still alive
    }
}
